"""Package metadata: the sales pipeline and its integrations as extras."""
from setuptools import Extension, find_packages, setup

BEAM = 'apache-beam[gcp]==2.77.0'

setup(
    name='sales-pipeline',
    version='0.1.0',
    description='One Apache Beam pipeline for batch and streaming e-commerce '
    'sales analytics.',
    python_requires='>=3.11',  # tomllib (pipelines/flag_table.py)
    packages=find_packages(include=['pipelines*', 'transforms*', 'runners*',
                                    'services*', 'tools*', 'reporting*',
                                    'dashboard*']),
    py_modules=['pipeline'],
    # The line-shape scan in C (transforms/vectorized/shape.py); optional:
    # without a compiler the same scan runs as a regex, only slower.
    ext_modules=[Extension('transforms.vectorized.shape_scan',
                           ['transforms/vectorized/shape_scan.c'],
                           optional=True)],
    # flags.toml: the pipeline's flags, read wherever SalesOptions registers
    # them (the launcher and every worker).
    package_data={'transforms': ['schema/*.avsc'],
                  'pipelines': ['flags.toml'],
                  'dashboard': ['static/*']},
    install_requires=[
        BEAM,
        'pyarrow>=14',
        'fastavro>=1.9',
        'orjson>=3.9',
        # IANA time zones for --timezone where the OS has no tz database
        # (zoneinfo prefers the system's; e.g. slim worker images).
        'tzdata>=2024.1',
    ],
    extras_require={
        'kafka': ['confluent-kafka>=2.3'],
        'postgres': ['psycopg[binary]>=3.1'],
        'pubsub': ['google-cloud-pubsub>=2.18'],
        'report': ['matplotlib>=3.8'],
        'dashboard': ['flask>=3.0', 'waitress>=3.0', 'plotly>=5.20'],
        'redis': ['redis>=5'],
        'zeromq': ['pyzmq>=25'],
        'hdfs': ['hdfs>=2.7'],  # Beam's hdfs:// (WebHDFS) filesystem
        'bench': ['duckdb>=1.0', 'polars>=1.0', 'pandas>=2.0',
                  'matplotlib>=3.8'],  # benchmarks/curves.py's charts
        'mining': ['scikit-learn>=1.4'],
        'test': [
            'pytest>=8',
            'pytest-timeout>=2.3',
            'pytest-xdist>=3.5',  # scripts/test.sh: two workers
            'hypothesis>=6.100',
            'duckdb>=1.0',
            'confluent-kafka>=2.3',
            'psycopg[binary]>=3.1',
            'selenium>=4.20',
            'scikit-learn>=1.4',
            'mlxtend>=0.23',
            'time-machine>=2.14',  # tests/clock: the year-ahead run
        ],
    },
    entry_points={'console_scripts': ['sales-pipeline=pipelines.cli:main']},
)

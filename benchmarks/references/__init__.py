"""Reference implementations of the batch job in DuckDB, polars and pandas.

`python -m benchmarks.references --impl duckdb|polars|pandas --input F
 --out result.json [--catalog C --fx_rates X --window_size_seconds 3600]`

The job (docs/semantics.md, fixed windows, JSON Lines input): parse, validate
(first failing rule wins, dead letters counted per reason), dedupe (first
seen by line), revenue in USD (exact), join the catalog, aggregate per fixed
window and category (+ `__all__`): orders, units, revenue (rounded to cents
half-up only at the end), distinct customers.

Each implementation writes the same canonical JSON (see `canonical`), which
the benchmark compares with the pipeline's output.

Reference limitations (inputs outside them raise `Unsupported`, they are
never silently wrong): prices with more than 6 decimals or written with an
exponent; ISO times beyond `YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]](Z|+HH:MM)`;
duplicate keys in one JSON object (DuckDB). The generator produces none.

The package, one job a module: `contract` (the rules' constants, Unsupported,
the canonical document), `inputs` (reading rates, catalog and lines),
`polars_job`, `pandas_job`, `duckdb_job` (one implementation each) and `cli`
(IMPLS and the command line).
"""
from benchmarks.references.cli import IMPLS, main
from benchmarks.references.contract import (
    CENT, FIELDS, ID_FIELDS, ISO_RE, MAX_EPOCH_MS, PRICE_EXACT_RE,
    PRICE_RE, PRICE_SCALE, RATE_SCALE, REV_SCALE, Unsupported, canonical, cents)
from benchmarks.references.duckdb_job import run_duckdb
from benchmarks.references.inputs import (
    arrow_lines, decode_fields, load_catalog, load_rates, read_lines)
from benchmarks.references.pandas_job import run_pandas
from benchmarks.references.polars_job import run_polars

__all__ = [
    'CENT', 'FIELDS', 'ID_FIELDS', 'IMPLS', 'ISO_RE', 'MAX_EPOCH_MS',
    'PRICE_EXACT_RE', 'PRICE_RE', 'PRICE_SCALE', 'RATE_SCALE',
    'REV_SCALE', 'Unsupported', 'arrow_lines', 'canonical', 'cents',
    'decode_fields', 'load_catalog', 'load_rates', 'main', 'read_lines',
    'run_duckdb', 'run_pandas', 'run_polars',
]

"""google-api-core (imported by Beam) warns on stderr, at import, once the
Python in use nears or passes its end of life: for Python 3.11 from
2027-07-26, with 2027-10-24 as the end. The entry points (python -m
pipeline, python -m dashboard) keep those notices off the terminal, which
is for the run's own messages (docs/troubleshooting.md). Stdlib only: call
``hide_python_support_notices()`` before anything imports Beam.
"""
import warnings

NOTICE_MODULE = r'google\.api_core\._python_version_support'


def hide_python_support_notices() -> None:
  warnings.filterwarnings('ignore', category=FutureWarning,
                          module=NOTICE_MODULE)

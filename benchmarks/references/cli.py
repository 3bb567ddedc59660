"""The command line, `python -m benchmarks.references`: runs the
implementation --impl names (IMPLS) on --input and writes its canonical
result, plus the seconds it took inside the process, to --out as JSON."""
from __future__ import annotations

import argparse
import json
import time

from benchmarks.references.duckdb_job import run_duckdb
from benchmarks.references.pandas_job import run_pandas
from benchmarks.references.polars_job import run_polars

IMPLS = {'duckdb': run_duckdb, 'polars': run_polars, 'pandas': run_pandas}


def main(argv=None) -> int:
  from pipelines.options import DEFAULT_CATALOG, DEFAULT_FX_RATES
  parser = argparse.ArgumentParser(prog='python -m benchmarks.references')
  parser.add_argument('--impl', choices=sorted(IMPLS), required=True)
  parser.add_argument('--input', required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--catalog', default=DEFAULT_CATALOG)
  parser.add_argument('--fx_rates', default=DEFAULT_FX_RATES)
  parser.add_argument('--window_size_seconds', type=int, default=3600)
  args = parser.parse_args(argv)
  began = time.perf_counter()
  result = IMPLS[args.impl](args.input, args.catalog, args.fx_rates,
                            args.window_size_seconds)
  result['seconds_inside'] = time.perf_counter() - began
  with open(args.out, 'w', encoding='utf-8') as f:
    json.dump(result, f)
  return 0

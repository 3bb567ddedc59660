"""Is a run's output (Parquet results, top products, dead letters, summary
counts) the same as another run's of the same input? For runs on other
runners and stores, compared with the default runner on local files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import pyarrow.parquet as pq

OUTPUTS = ('sales_by_category.parquet', 'top_products.parquet')


def parquet(path: Path) -> list:
  """All rows of a Parquet output, every column, in a stable order."""
  return sorted(tuple(sorted(r.items()))
                for r in pq.read_table(path).to_pylist())


def counts(out: Path) -> dict:
  """The run's summary without its wall-clock stamp."""
  summary = json.loads((out / 'summary.json').read_text())
  summary.pop('as_of', None)
  return summary


def dead_letters(out: Path, with_source: bool = True) -> List[str]:
  """The dead letters, sorted; without their file name when the inputs
  were the same records under another name (an HDFS copy, gzipped)."""
  rows = [json.loads(line) for line in
          (out / 'dead_letters.jsonl').read_text().splitlines()]
  if not with_source:
    for row in rows:
      row.pop('source', None)
  return sorted(json.dumps(row, sort_keys=True) for row in rows)


def assert_same_run(out: Path, expected: Path,
                    source: Optional[str] = None) -> None:
  """``out`` has ``expected``'s rows. ``source``: the name every dead
  letter of ``out`` must carry instead of the expected run's input."""
  for name in OUTPUTS:
    assert parquet(out / name) == parquet(expected / name), name
  if source is None:
    assert dead_letters(out) == dead_letters(expected)
  else:
    assert dead_letters(out, False) == dead_letters(expected, False)
    assert {json.loads(d)['source'] for d in dead_letters(out)} == {source}
  assert counts(out) == counts(expected)

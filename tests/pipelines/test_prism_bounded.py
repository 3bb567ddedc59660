"""A bounded run on Prism writes the default runner's rows.

Prism drops late data in batch too: an element whose window ended before
the watermark of the aggregation is discarded. The bounded dedupe groups
orders in the global window and re-stamps the kept copy at its event time;
had the group been stamped at the end of the global window, every order
would have come out behind the watermark and the run would have written no
rows at all (docs/running.md). The default runner (FnApiRunner)
drops nothing in batch, so its output is the expected one: every column of
every row, and the dead letters, must be the same.
"""
import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from runners.local import prism_binary
from tests.pipelines.test_end_to_end import ROOT, SAMPLE

pytestmark = [
    pytest.mark.prism,
    pytest.mark.skipif(prism_binary() is None,
                       reason='Prism is not built (runners/prism/setup.sh)'),
]

OUTPUTS = ('sales_by_category.parquet', 'top_products.parquet')


def run_all(out, flags, runs):
  """The CLI on the sample with `flags`, each of `runs` (name, its own
  flags) at once (each mostly waits for its runner), into out/name."""
  procs = [subprocess.Popen(
      [sys.executable, '-m', 'pipeline', '--input', SAMPLE, '--output',
       str(out / name), *flags, *extra], cwd=ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for name, extra in runs]
  for proc in procs:
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr


def written_rows(out):
  """Each output's rows, in an order that does not depend on the runner."""
  rows = {name: sorted(map(repr, pq.read_table(out / name).to_pylist()))
          for name in OUTPUTS}
  with open(out / 'dead_letters.jsonl') as f:
    rows['dead_letters'] = sorted(
        json.dumps(d, sort_keys=True) for d in map(json.loads, f))
  return rows


PRISM = ('--runner=PrismRunner',)


@pytest.mark.parametrize('flags, prism_runs', [
    # Both engines yield the same rows (pipelines/sales.py): the records
    # engine on Prism is held to the default engine's rows too.
    ((), (('prism', PRISM), ('prism-records', PRISM + ('--engine=records',)))),
    (('--window=daily', '--timezone=America/New_York'), (('prism', PRISM),)),
], ids=['fixed', 'daily-new-york'])
def test_bounded_sample_on_prism_gives_the_default_runners_rows(
    tmp_path, flags, prism_runs):
  run_all(tmp_path, flags, (('default', ()),) + prism_runs)

  expected = written_rows(tmp_path / 'default')
  assert expected['sales_by_category.parquet'], 'the sample has windows'
  assert expected['dead_letters'], 'the sample has dead letters'
  for name, _ in prism_runs:
    assert written_rows(tmp_path / name) == expected, name

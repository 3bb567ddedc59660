"""One bounded run over the sample that writes a report, for the report
tests: Parquet tables, a SQLite store and the HTML file, in one folder."""
from __future__ import annotations

import pathlib
from typing import Dict

from tests.integration.streaming import SAMPLE, run_bounded


def report_run(out: pathlib.Path, *flags: str) -> Dict[str, str]:
  """Runs the pipeline over the sample with ``flags`` and ``--report``;
  returns the paths of the tables, the report and the store, and the
  report's HTML."""
  report = out / 'report.html'
  proc = run_bounded('--input', SAMPLE, '--output', str(out / 'tables'),
                     *flags, '--report', str(report),
                     '--sink', f'sqlite:///{out / "store.db"}')
  assert f'report            {report}' in proc.stdout
  return {'tables': str(out / 'tables'), 'report': str(report),
          'store': f'sqlite:///{out / "store.db"}',
          'html': report.read_text(encoding='utf-8')}

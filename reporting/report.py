"""write_report: the output tables and a run's counts -> one HTML file.

The file is written to a temp file beside it and renamed over the old one
(a reader never sees half a report), created private (0640 at most).
"""
from __future__ import annotations

import os
import tempfile

from reporting.days import zone
from reporting.page import ReportContext, render
from reporting.tables import Tables

__all__ = ['ReportContext', 'write_report']


def write_report(path: str, tables: Tables, ctx: ReportContext) -> str:
  """Renders the report and writes it to path; returns the path."""
  text = render(tables, ctx, zone(ctx.timezone))
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, mode=0o750, exist_ok=True)
  fd, temp = tempfile.mkstemp(prefix='.report-', suffix='.html',
                              dir=directory)
  try:
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
      f.write(text)
    os.chmod(temp, 0o640)
    os.replace(temp, path)
  except BaseException:
    if os.path.exists(temp):
      os.remove(temp)
    raise
  return path

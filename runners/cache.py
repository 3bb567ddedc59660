"""Where the project's setup scripts put fetched tools (jars, binaries)."""
from __future__ import annotations

import os
import pathlib


def cache_dir() -> pathlib.Path:
  """${SALES_CACHE:-~/.cache/sales-pipeline}, as the shell scripts use it."""
  return pathlib.Path(
      os.environ.get('SALES_CACHE') or
      pathlib.Path.home() / '.cache' / 'sales-pipeline')

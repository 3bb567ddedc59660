"""benchmarks/curves.py draws the cost-curve charts docs/performance.md
shows: each chart is a PNG of the size it was drawn at, redrawn from the
JSON that a curve run keeps."""
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BATCH_ROWS = [
    {'impl': impl, 'orders': n, 'wall': wall, 'rss_mb': rss}
    for impl, n, wall, rss in [('duckdb', 100_000, 5.7, 414),
                               ('duckdb', 1_000_000, 12.8, 1383),
                               ('beam', 100_000, 5.0, 385),
                               ('beam', 1_000_000, 12.2, 556)]]
STREAMING_ROWS = [
    {'runner': runner, 'partitions': p, 'events_per_s': rate, 'p99_s': p99,
     'target_p99_s': 3}
    for runner, p, rate, p99 in [('prism', 1, 19863, 5.3),
                                 ('prism', 2, 19322, 6.6),
                                 ('flink', 1, 10640, 5.0),
                                 ('flink', 2, None, None)]]  # a failed run


def png_size(path):
  with open(path, 'rb') as f:
    head = f.read(24)
  assert head[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
  return struct.unpack('>II', head[16:24])


@pytest.mark.parametrize('kind,rows', [('batch', BATCH_ROWS),
                                       ('streaming', STREAMING_ROWS)])
def test_a_chart_is_redrawn_from_a_runs_json(tmp_path, kind, rows):
  figures = tmp_path / 'run.json'
  figures.write_text(json.dumps({'cores': 2, 'rows': rows}))
  chart = tmp_path / 'chart.png'
  proc = subprocess.run(
      [sys.executable, '-m', 'benchmarks.curves', kind, '--redraw',
       str(figures), '--chart', str(chart)],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert png_size(chart) == (1100, 420)  # 11 x 4.2 inches at 100 dpi

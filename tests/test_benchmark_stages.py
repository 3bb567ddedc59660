"""benchmarks/stages.py times the streaming read's steps on the same
batches, after checking that the per-batch stamps are the per-record ones."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_stage_benchmark_prints_a_figure_per_step():
  out = subprocess.run(
      [sys.executable, '-m', 'benchmarks.stages', '--events', '3000',
       '--batch', '700', '--repeat', '1'],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
  rows = [line.split() for line in out.stdout.splitlines()[1:]]
  assert [' '.join(r[:-1]) for r in rows] == [
      'event times, per record', 'event times, per batch', 'check']
  assert all(float(r[-1]) > 0 for r in rows)

"""Runs `python -m benchmarks.streaming` (flags: benchmarks/streaming/cli.py)."""
import sys

from benchmarks.streaming.cli import main

if __name__ == '__main__':
  sys.exit(main())

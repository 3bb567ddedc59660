"""Runs `python -m benchmarks.references` (flags: benchmarks/references/cli.py)."""
import sys

from benchmarks.references.cli import main

if __name__ == '__main__':
  sys.exit(main())

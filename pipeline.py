"""Entry point: `python -m pipeline [flags]`. See pipelines/cli.py."""
from pipelines.cli import run_as_program

if __name__ == '__main__':
  run_as_program()

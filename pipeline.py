"""Entry point: `python -m pipeline [flags]`. See pipelines/cli.py."""
from transforms.python_support import hide_python_support_notices

hide_python_support_notices()

from pipelines.cli import run_as_program  # noqa: E402  pylint: disable=wrong-import-position

if __name__ == '__main__':
  run_as_program()

"""python -m dashboard: see dashboard/cli.py."""
import sys

from transforms.python_support import hide_python_support_notices

hide_python_support_notices()

from dashboard.cli import main  # noqa: E402  pylint: disable=wrong-import-position

sys.exit(main())

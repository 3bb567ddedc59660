"""Runs the generator's command line: ``python -m tools.generate_orders``
(flags: tools/generate_orders/cli.py)."""

import sys

from tools.generate_orders.cli import main

if __name__ == "__main__":
    sys.exit(main())

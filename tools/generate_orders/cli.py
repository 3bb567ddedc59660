"""The command line, ``python -m tools.generate_orders``: parses the flags
(including the ``--planted-pairs A:B,...`` list), writes the file with
write_orders and reports the records written and the time taken on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

from tools.generate_orders.records import FORMATS
from tools.generate_orders.stream import DEFAULT_START
from tools.generate_orders.world import DEFAULT_CATALOG, DEFAULT_FX_RATES
from tools.generate_orders.writers import write_orders


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.generate_orders",
        description="Write deterministic, realistic (and deliberately messy) order events.")
    parser.add_argument("--count", type=int, required=True, help="number of records")
    parser.add_argument("--seed", type=int, required=True, help="random seed")
    parser.add_argument("--out", required=True, help="output file (format from its extension)")
    parser.add_argument("--format", choices=FORMATS, help="override the format inferred from --out")
    parser.add_argument("--gzip", action="store_true", help="gzip the output (implied by .gz)")
    parser.add_argument("--dirty-rate", type=float, default=0.01, help="share of dirty records")
    parser.add_argument("--duplicate-rate", type=float, default=0.01, help="share of duplicate records")
    parser.add_argument("--start", default=DEFAULT_START, help="first event time (ISO-8601)")
    parser.add_argument("--days", type=float, default=2.0, help="days of event time covered")
    parser.add_argument("--catalog", default=str(DEFAULT_CATALOG), help="product catalog CSV")
    parser.add_argument("--fx-rates", default=str(DEFAULT_FX_RATES), help="FX rates CSV")
    parser.add_argument("--blank-rate", type=float, default=0.002,
                        help="JSONL only: chance of a blank line before a record")
    parser.add_argument("--planted-pairs", default="",
                        help="A:B,... : an order of A is mostly followed by an order of B by the "
                             "same customer within 5 minutes (products bought together)")
    return parser


def parse_planted_pairs(text: str) -> list[tuple[str, str]]:
    """'A:B,C:D' -> [('A', 'B'), ('C', 'D')]."""
    pairs = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        a, sep, b = item.partition(":")
        if not sep or not a.strip() or not b.strip() or a.strip() == b.strip():
            raise ValueError(f"bad planted pair {item!r}: use A:B with two product ids")
        pairs.append((a.strip(), b.strip()))
    return pairs


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    args = _parser().parse_args(argv)
    began = time.perf_counter()
    written = write_orders(
        args.out, args.count, args.seed, args.format,
        gzip_output=True if args.gzip else None,
        dirty_rate=args.dirty_rate, duplicate_rate=args.duplicate_rate,
        start=args.start, days=args.days, catalog=args.catalog, fx_rates=args.fx_rates,
        blank_rate=args.blank_rate, planted_pairs=parse_planted_pairs(args.planted_pairs),
    )
    print(f"wrote {written} records to {args.out} in {time.perf_counter() - began:.1f}s",
          file=sys.stderr)
    return 0

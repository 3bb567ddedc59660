"""The event stream: ``count`` slots, each a valid event, a dirty variant or
a delayed exact re-send of an earlier valid event (plus blank lines in
JSONL), drawn deterministically from the seed with separate random streams so
that the valid events do not depend on the format."""

from __future__ import annotations

import heapq
import random
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Sequence, Union

from tools.generate_orders.dirty import DirtSource, dirty_variants
from tools.generate_orders.factory import EventFactory, parse_start
from tools.generate_orders.records import Event, check_format
from tools.generate_orders.world import DEFAULT_CATALOG, DEFAULT_FX_RATES, build_world

DEFAULT_START = "2026-11-02T00:00:00Z"


def _resend_delay(rng: random.Random, slot: int, count: int) -> int:
    """How many slots later a duplicate is re-sent: mostly soon, sometimes far."""
    r = rng.random()
    if r < 0.75:
        return rng.randint(1, 50)
    if r < 0.92:
        return rng.randint(51, max(51, count // 20))
    return rng.randint(1, max(1, count - 1 - slot))


def iter_events(
    count: int,
    seed: int,
    *,
    fmt: str = "jsonl",
    dirty_rate: float = 0.01,
    duplicate_rate: float = 0.01,
    start: Union[str, datetime] = DEFAULT_START,
    days: float = 2.0,
    catalog: Union[str, Path] = DEFAULT_CATALOG,
    fx_rates: Union[str, Path] = DEFAULT_FX_RATES,
    blank_rate: float = 0.002,
    planted_pairs: Sequence[tuple[str, str]] = (),
) -> Iterator[Event]:
    """Yield ``count`` records (plus blank lines in JSONL), deterministically.

    Separate random streams drive the base events, the slot kinds, the dirty
    variants and the blank lines, so that the valid events do not depend on
    the format or on the dirty variants available to it.
    """
    check_format(fmt)
    if count < 0 or not 0 <= dirty_rate < 1 or not 0 <= duplicate_rate < 1 - dirty_rate:
        raise ValueError("need count >= 0, 0 <= dirty_rate < 1, 0 <= duplicate_rate < 1 - dirty_rate")
    world = build_world(catalog, fx_rates, count, seed)
    unknown = sorted({p for pair in planted_pairs for p in pair} - set(world.product_ids))
    if unknown:
        raise ValueError(f"planted pair products not in the catalog: {', '.join(unknown)}")
    factory = EventFactory(world, seed, max(count, 1), parse_start(start), int(days * 86_400_000),
                           planted_pairs)
    dirt = DirtSource(dirty_variants(fmt), random.Random(f"{seed}:dirty:{fmt}"))
    mix = random.Random(f"{seed}:mix")
    blanks = random.Random(f"{seed}:blank")
    # A new valid event is re-sent with this probability, so that duplicates
    # make up about duplicate_rate of all records.
    resend = duplicate_rate / ((1 - duplicate_rate) * (1 - dirty_rate))
    pending: list[tuple[int, int, dict[str, Any]]] = []  # (due slot, origin slot, event)
    for slot in range(count):
        if fmt == "jsonl" and blanks.random() < blank_rate:
            yield blanks.choice(("", " ", "  "))
        if pending and pending[0][0] <= slot:
            yield heapq.heappop(pending)[2]
            continue
        event = factory.make(slot)
        if mix.random() < dirty_rate:
            yield dirt.corrupt(event)
            continue
        if mix.random() < resend:
            heapq.heappush(pending, (slot + _resend_delay(mix, slot, count), slot, event))
        yield event


def generate_events(count: int, seed: int, **options: Any) -> list[Event]:
    """All events of :func:`iter_events` as a list (for tests; mind the memory)."""
    return list(iter_events(count, seed, **options))

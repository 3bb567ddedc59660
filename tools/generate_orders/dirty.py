"""The dirty variants: every way the generator breaks a valid event, each
breaking exactly one rule of docs/semantics.md so its dead-letter reason is
known, with the formats able to carry it; and the DirtSource that hands them
out round-robin in a freshly shuffled order per cycle."""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from tools.generate_orders.factory import format_iso, parse_start
from tools.generate_orders.records import (
    FIELDS, FORMATS, REQUIRED_FIELDS, Event, check_format, csv_values,
)

# 10000-01-01T00:00:00Z: too big under any event-time range the contract
# has had (now up to 9998-12-31), so the recorded sample stays the same.
_TOO_BIG_EPOCH_MS = 253402300800000

Corrupt = Callable[[random.Random, dict[str, Any]], Event]

_ALL = frozenset(FORMATS)
_NOT_AVRO = frozenset({"jsonl", "csv", "parquet"})
_JSONL = frozenset({"jsonl"})
_CSV = frozenset({"csv"})


@dataclass(frozen=True)
class DirtyVariant:
    """One way to break a valid event, and the dead-letter reason it earns."""

    name: str
    reason: str
    formats: frozenset[str]
    corrupt: Corrupt


def _replace(field: str, value: Callable[[random.Random, dict[str, Any]], Any]) -> Corrupt:
    """Corrupt by setting ``field`` to ``value(rng, event)``."""
    return lambda rng, event: {**event, field: value(rng, event)}


def _pick(*choices: Any) -> Callable[[random.Random, dict[str, Any]], Any]:
    """A value function choosing one of ``choices``."""
    return lambda rng, _event: rng.choice(choices)


def _drop(field: str) -> Corrupt:
    """Corrupt by removing ``field``."""
    return lambda _rng, event: {k: v for k, v in event.items() if k != field}


def _event_ms_of(event: dict[str, Any]) -> int:
    """Epoch ms of a generated (valid) event_time value."""
    value = event["event_time"]
    if isinstance(value, int) or value.isdigit():
        return int(value)
    return parse_start(value)


def _naive_time(_rng: random.Random, event: dict[str, Any]) -> str:
    """The event time as ISO text without any offset."""
    value = event["event_time"]
    if isinstance(value, str) and not value.isdigit():
        return value[:-1] if value.endswith("Z") else value[:-6]
    return format_iso(_event_ms_of(event), None, True)[:-1]


def _float_epoch(_rng: random.Random, event: dict[str, Any]) -> float:
    return _event_ms_of(event) + 0.5


def _json_text(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def _truncated_json(rng: random.Random, event: dict[str, Any]) -> str:
    text = _json_text(event)
    return text[: rng.randint(len(text) // 3, len(text) - 2)]


def _json_array(_rng: random.Random, event: dict[str, Any]) -> str:
    return json.dumps([event[f] for f in FIELDS if f in event], separators=(",", ":"))


def _json_scalar(rng: random.Random, event: dict[str, Any]) -> str:
    return rng.choice(["42", "null", "true", json.dumps(_json_text(event))])


def _python_repr(_rng: random.Random, event: dict[str, Any]) -> str:
    return repr(event)  # single quotes: not JSON


def _csv_row(values: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


def _csv_extra_field(_rng: random.Random, event: dict[str, Any]) -> str:
    return _csv_row([*csv_values(event), "EXTRA"])


def _csv_missing_field(_rng: random.Random, event: dict[str, Any]) -> str:
    return _csv_row(csv_values(event)[:-1])


def _missing_variants() -> list[DirtyVariant]:
    variants = []
    for field in REQUIRED_FIELDS:
        reason = f"missing_field:{field}"
        variants += [
            DirtyVariant(f"{field}_absent", reason, _ALL, _drop(field)),
            DirtyVariant(f"{field}_null", reason, _ALL, _replace(field, _pick(None))),
            DirtyVariant(f"{field}_empty", reason, _ALL,
                         _replace(field, _pick("", " ", "  ", "\t"))),
        ]
    return variants


def _value(name: str, reason: str, formats: frozenset[str], field: str,
           *choices: Any) -> DirtyVariant:
    """A variant that sets ``field`` to one of ``choices``."""
    return DirtyVariant(name, reason, formats, _replace(field, _pick(*choices)))


def _build_variants() -> tuple[DirtyVariant, ...]:
    """Every dirty variant of docs/semantics.md, with the formats able to carry it."""
    v, c = DirtyVariant, _value
    return (
        v("truncated_json", "malformed", _JSONL, _truncated_json),
        v("json_array", "malformed", _JSONL, _json_array),
        v("json_scalar", "malformed", _JSONL, _json_scalar),
        v("python_repr", "malformed", _JSONL, _python_repr),
        v("csv_extra_field", "malformed", _CSV, _csv_extra_field),
        v("csv_missing_field", "malformed", _CSV, _csv_missing_field),
        *_missing_variants(),
        c("order_id_number", "bad_type:order_id", _JSONL, "order_id", 123456, 7654321),
        c("customer_id_number", "bad_type:customer_id", _JSONL, "customer_id", 1234, 98765),
        c("product_id_number", "bad_type:product_id", _JSONL, "product_id", 1001, 42),
        c("product_id_bool", "bad_type:product_id", _JSONL, "product_id", True, False),
        c("quantity_float", "bad_type:quantity", _NOT_AVRO, "quantity", 2.5, 3.0, 1.5),
        c("quantity_decimal_text", "bad_type:quantity", _ALL, "quantity", "2.5", "3.0"),
        c("quantity_word", "bad_type:quantity", _ALL, "quantity", "abc", "two", "1,5"),
        c("quantity_bool", "bad_type:quantity", _NOT_AVRO, "quantity", True, False),
        c("unit_price_word", "bad_type:unit_price", _ALL, "unit_price", "abc", "12,99", "$19.99"),
        c("unit_price_nan", "bad_type:unit_price", _ALL, "unit_price", "NaN", "nan", "Infinity", "-inf"),
        c("unit_price_bool", "bad_type:unit_price", _NOT_AVRO, "unit_price", True, False),
        c("currency_number", "bad_type:currency", _JSONL, "currency", 840, 978),
        c("country_three_letters", "bad_type:country", _ALL, "country", "USA", "DEU", "United States"),
        c("country_digits", "bad_type:country", _ALL, "country", "1", "12", "U5"),
        c("country_number", "bad_type:country", _JSONL, "country", 1, 49),
        c("quantity_zero", "out_of_range:quantity", _ALL, "quantity", 0, "0"),
        c("quantity_too_big", "out_of_range:quantity", _ALL, "quantity", 10001, 25000),
        c("quantity_negative", "out_of_range:quantity", _ALL, "quantity", -1, -3, "-2"),
        c("unit_price_zero", "out_of_range:unit_price", _ALL, "unit_price", 0.0, "0", "0.00"),
        c("unit_price_negative", "out_of_range:unit_price", _ALL, "unit_price", -4.99, "-12.50"),
        c("unit_price_too_big", "out_of_range:unit_price", _ALL, "unit_price",
          1000000.01, "1000000.01", "2500000"),
        c("unknown_currency", "unknown_currency", _ALL, "currency", "XYZ", "BTC", "ZZZ", "US$"),
        v("time_naive", "bad_time", _ALL, _replace("event_time", _naive_time)),
        c("time_date_only", "bad_time", _ALL, "event_time", "2026-11-02", "2026-11-03"),
        c("time_word", "bad_time", _ALL, "event_time", "yesterday", "now", "11/02/2026 10:15"),
        v("time_float_epoch", "bad_time", _NOT_AVRO, _replace("event_time", _float_epoch)),
        c("time_negative_epoch", "bad_time", _ALL, "event_time", -1, -1793577600000),
        c("time_epoch_too_big", "bad_time", _ALL, "event_time", _TOO_BIG_EPOCH_MS),
        c("time_bool", "bad_time", _NOT_AVRO, "event_time", True),
    )


_VARIANTS: tuple[DirtyVariant, ...] = _build_variants()


def dirty_variants(fmt: str = "jsonl") -> tuple[DirtyVariant, ...]:
    """The dirty variants the generator draws for ``fmt``."""
    check_format(fmt)
    return tuple(variant for variant in _VARIANTS if fmt in variant.formats)


class DirtSource:
    """Hands out dirty variants round-robin, reshuffled every cycle."""

    def __init__(self, variants: Sequence[DirtyVariant], rng: random.Random):
        self._variants = list(variants)
        self._rng = rng
        self._queue: list[DirtyVariant] = []

    def corrupt(self, event: dict[str, Any]) -> Event:
        if not self._queue:
            self._queue = self._rng.sample(self._variants, len(self._variants))
        return self._queue.pop().corrupt(self._rng, event)

"""Deterministic generator of realistic, messy order events.

Command line::

    python -m tools.generate_orders --count 3000 --seed 42 --out data/sample/orders.jsonl \\
        [--format jsonl|csv|avro|parquet] [--gzip] [--dirty-rate 0.01] [--duplicate-rate 0.01] \\
        [--start 2026-11-02T00:00:00Z] [--days 2] [--catalog data/catalog.csv] \\
        [--fx-rates data/fx_rates.csv] [--blank-rate 0.002] [--planted-pairs P0101:P0102,...]

The format is inferred from the output extension (``.jsonl``/``.json``/``.ndjson``,
``.csv``, ``.avro``, ``.parquet``, each optionally followed by ``.gz``) unless
``--format`` is given; ``.gz`` (or ``--gzip``) gzip-compresses the file with a
fixed header (no name, mtime 0). Same arguments and seed give a byte-identical
file.

Python API: :func:`iter_events` (streaming), :func:`generate_events` (a list),
:func:`write_orders` (generate and write a file), :func:`write_events` (write
given events) and :func:`dirty_variants` (the dirty kinds drawn per format).
An event is either a ``dict`` (a record, serialised per format) or a ``str``
(a raw line written verbatim: broken JSON, a blank JSONL line, or a CSV row
with the wrong number of fields).

What the events look like (rules: ``docs/semantics.md``):

* ``--count`` records (slots), event times spread evenly over ``--days`` from
  ``--start`` and mostly increasing: most events are up to 2 minutes behind
  their slot, 15 % from 2 to 30 minutes and 5 % from 30 minutes to 2 hours
  (never before ``--start``).
* event_time as ISO-8601 with ``Z`` or with an offset (+02:00, -05:00, +05:30,
  ...), with or without milliseconds, as epoch milliseconds (integer) or as a
  string of digits.
* unit_price as a JSON number or a numeric string, in the local currency
  (USD, EUR, GBP, JPY, CAD, AUD, CHF, SEK and the other currencies of the FX
  file); currency sometimes lower-case or padded; quantity sometimes a digit
  string; customer ids sometimes padded with spaces; country present (sometimes
  lower-case), absent, null or empty; an extra ``channel`` field sometimes.
* about 2 % of product ids (``P9xxx``) are not in the catalog.
* duplicates: exact re-sends of an earlier valid record, mostly within ~50
  records, sometimes thousands of records or up to the end of the file later.
  ``--duplicate-rate`` is the target share of duplicate records.
* dirty records (``--dirty-rate`` of the non-duplicate slots): every variant of
  :func:`dirty_variants` for the format, drawn round-robin in a freshly shuffled
  order per cycle, so any file with at least as many dirty records as variants
  has every variant (and so every dead-letter reason) at least once. Each
  variant breaks exactly one rule of a valid event, so its reason is known.
* planted pairs (``--planted-pairs A:B,...``, none by default): an order of
  A is followed, ``PLANTED_SHARE`` of the time and in the next record, by an
  order of B by the same customer 1 s to 5 min later, so both land in one
  session basket (docs/mining.md).
* JSONL only: a blank or whitespace-only line now and then (``--blank-rate``
  per record; blank lines are extra lines, not records).

Format notes:

* **jsonl**: every variant, including broken JSON, arrays, scalars.
* **csv**: header = the schema field names; values are their string forms
  (absent/null -> empty, booleans -> ``true``/``false``). Kinds whose string
  form would be valid or change the reason (an id or the currency given as a
  number) are not drawn; ``malformed`` is a row with one field too many or too
  few.
* **avro**: fastavro with ``transforms/schema/order.avsc`` (deflate codec, sync
  marker derived from the seed). Kinds the schema cannot express are not drawn:
  every ``malformed`` kind, ids/currency/country as numbers, quantity as a
  float or boolean, unit_price as a boolean, event_time as a float or boolean.
  Absent fields are written as null; the extra ``channel`` field is dropped.
* **parquet**: pyarrow, every schema column a nullable string; same kinds as
  CSV except ``malformed``, which Parquet cannot express.

For one seed the slots (valid / dirty / duplicate) and the valid events are the
same in every format; only the dirty variant chosen for a dirty slot differs.
So the valid results of the pipeline are the same whatever the format.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import csv
import gzip
import heapq
import io
import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional, Sequence, Union

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CATALOG = REPO_ROOT / "data" / "catalog.csv"
DEFAULT_FX_RATES = REPO_ROOT / "data" / "fx_rates.csv"
SCHEMA_PATH = REPO_ROOT / "transforms" / "schema" / "order.avsc"
DEFAULT_START = "2026-11-02T00:00:00Z"

FIELDS: tuple[str, ...] = (
    "order_id", "customer_id", "product_id", "quantity",
    "unit_price", "currency", "event_time", "country",
)
REQUIRED_FIELDS: tuple[str, ...] = FIELDS[:-1]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "avro", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
    ".csv": "csv", ".avro": "avro", ".parquet": "parquet",
}

Event = Union[dict[str, Any], str]
"""A record (dict, serialised per format) or a raw line written verbatim."""

# --- realism tables (constants) ------------------------------------------------

_CURRENCY_WEIGHTS = {
    "USD": 45.0, "EUR": 20.0, "GBP": 10.0, "JPY": 7.0,
    "CAD": 6.0, "AUD": 5.0, "CHF": 3.0, "SEK": 2.0,
}
_OTHER_CURRENCY_WEIGHT = 0.5
_EURO_COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "IE", "AT", "BE", "FI", "PT")
_COUNTRIES_BY_CURRENCY = {
    "USD": ("US", "US", "US", "US", "PR"), "EUR": _EURO_COUNTRIES,
    "GBP": ("GB",), "CHF": ("CH", "LI"),
}
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "HUF"})
_CATEGORY_PRICE_SCALE = {
    "electronics": 3.0, "home": 1.5, "garden": 1.4, "sports": 1.3, "fashion": 1.2,
    "toys": 0.9, "books": 0.6, "beauty": 0.6, "office": 0.5, "grocery": 0.35,
}
_UTC_OFFSETS_MIN = (120, 60, -300, -480, 330, 540, 0, -210, 600, -240)
_CHANNELS = ("web", "app", "marketplace", "store")
_UNKNOWN_PRODUCT_SHARE = 0.02
# How often an order of a planted pair's first product is followed by one
# of its second (--planted-pairs).
PLANTED_SHARE = 0.8
# 10000-01-01T00:00:00Z: too big under any event-time range the contract
# has had (now up to 9998-12-31), so the recorded sample stays the same.
_TOO_BIG_EPOCH_MS = 253402300800000


@dataclass(frozen=True)
class _World:
    """Reference tables the events are drawn from (read-only)."""

    product_ids: tuple[str, ...]
    product_usd: tuple[float, ...]
    currencies: tuple[str, ...]
    currency_cum_weights: tuple[float, ...]
    usd_per_unit: dict[str, float]
    quantities: tuple[int, ...]
    quantity_cum_weights: tuple[float, ...]
    customers: int


def _read_csv_rows(path: Union[str, Path]) -> list[dict[str, str]]:
    """All rows of a small headed CSV file."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _cumulative(weights: Iterable[float]) -> tuple[float, ...]:
    """Running totals, for ``bisect`` weighted choice."""
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return tuple(out)


def _quantity_table() -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Quantities 1..500: mostly 1-3, a long thin tail of bulk orders."""
    weights = {1: 55.0, 2: 22.0, 3: 10.0, 4: 4.0, 5: 2.0}
    weights.update({q: 5.0 / 7 for q in range(6, 13)})
    weights.update({q: 1.8 / 38 for q in range(13, 51)})
    weights.update({q: 0.2 / 450 for q in range(51, 501)})
    values = tuple(sorted(weights))
    return values, _cumulative(weights[q] for q in values)


def _build_world(catalog: Union[str, Path], fx_rates: Union[str, Path],
                 count: int, seed: int) -> _World:
    """Load catalog and FX file and derive the per-run tables."""
    products = _read_csv_rows(catalog)
    rates = {row["currency"].strip().upper(): float(row["usd_per_unit"])
             for row in _read_csv_rows(fx_rates)}
    price_rng = random.Random(f"{seed}:prices")
    usd = tuple(
        round(min(4000.0, max(0.99, price_rng.lognormvariate(3.0, 0.9)
                              * _CATEGORY_PRICE_SCALE.get(row["category"].strip(), 1.0))), 2)
        for row in products)
    currencies = tuple(sorted(rates, key=lambda c: (c not in _CURRENCY_WEIGHTS, c)))
    quantities, quantity_weights = _quantity_table()
    return _World(
        product_ids=tuple(row["product_id"].strip() for row in products),
        product_usd=usd,
        currencies=currencies,
        currency_cum_weights=_cumulative(
            _CURRENCY_WEIGHTS.get(c, _OTHER_CURRENCY_WEIGHT) for c in currencies),
        usd_per_unit=rates,
        quantities=quantities,
        quantity_cum_weights=quantity_weights,
        customers=max(25, count // 6),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_start(start: Union[str, datetime]) -> int:
    """Epoch milliseconds of ``start`` (ISO-8601; naive means UTC)."""
    moment = start if isinstance(start, datetime) else datetime.fromisoformat(start)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def format_iso(ms: int, offset_min: Optional[int], with_ms: bool) -> str:
    """ISO-8601 text of epoch ``ms``: ``Z`` when ``offset_min`` is None."""
    secs, millis = divmod(ms, 1000)
    local = time.gmtime(secs + 60 * (offset_min or 0))
    text = (f"{local.tm_year:04d}-{local.tm_mon:02d}-{local.tm_mday:02d}"
            f"T{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}")
    if with_ms:
        text += f".{millis:03d}"
    if offset_min is None:
        return text + "Z"
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


class _EventFactory:
    """Makes the valid base event of each slot from its own random stream."""

    def __init__(self, world: _World, seed: int, count: int, start_ms: int, span_ms: int,
                 planted_pairs: Sequence[tuple[str, str]] = ()):
        self._world = world
        self._rng = random.Random(f"{seed}:base")
        self._count = count
        self._start_ms = start_ms
        self._span_ms = span_ms
        # Planted pairs: an order of A is followed (PLANTED_SHARE of the time),
        # in the next slot, by an order of B by the same customer, 1 s to
        # 5 min later (one session).
        self._partner = dict(planted_pairs)
        self._planted_rng = random.Random(f"{seed}:planted")
        self._companion: Optional[tuple[str, str, int]] = None

    def make(self, slot: int) -> dict[str, Any]:
        """A valid, realistic order event for ``slot`` (0-based)."""
        rnd = self._rng.random
        world = self._world
        companion, self._companion = self._companion, None
        currency = world.currencies[bisect.bisect_right(
            world.currency_cum_weights, rnd() * world.currency_cum_weights[-1])]
        event: dict[str, Any] = {
            "order_id": f"ord_{self._rng.getrandbits(64):016x}",
            "customer_id": self._customer(),
        }
        product, usd = self._product()
        if companion is not None:
            event["customer_id"], product, _ = companion
            usd = world.product_usd[world.product_ids.index(product)]
        event["product_id"] = product
        event["quantity"] = self._quantity()
        event["unit_price"] = self._price(usd, currency)
        event["currency"] = self._currency_text(currency)
        event_ms = self._event_ms(slot)
        if companion is not None:
            event_ms = companion[2]
        elif product in self._partner and self._planted_rng.random() < PLANTED_SHARE:
            self._companion = (event["customer_id"], self._partner[product],
                               event_ms + self._planted_rng.randint(1, 300) * 1000)
        event["event_time"] = self._time_value(event_ms)
        self._add_country(event, currency)
        if rnd() < 0.25:
            event["channel"] = _CHANNELS[int(rnd() * len(_CHANNELS))]
        return event

    def _customer(self) -> str:
        rnd = self._rng.random
        customer = f"C{int(self._world.customers * rnd() ** 1.7) + 1:06d}"
        return f" {customer} " if rnd() < 0.005 else customer

    def _product(self) -> tuple[str, float]:
        rnd = self._rng.random
        if rnd() < _UNKNOWN_PRODUCT_SHARE:
            return f"P9{int(rnd() * 1000):03d}", round(5 + 195 * rnd(), 2)
        index = int(len(self._world.product_ids) * rnd() ** 1.4)
        return self._world.product_ids[index], self._world.product_usd[index]

    def _quantity(self) -> Union[int, str]:
        rnd = self._rng.random
        cum = self._world.quantity_cum_weights
        quantity = self._world.quantities[bisect.bisect_right(cum, rnd() * cum[-1])]
        return str(quantity) if rnd() < 0.03 else quantity

    def _price(self, usd: float, currency: str) -> Union[int, float, str]:
        rnd = self._rng.random
        if rnd() < 0.2:
            usd *= 0.7 + 0.25 * rnd()  # a discount
        local = usd / self._world.usd_per_unit[currency]
        as_number = rnd() < 0.7
        if currency in _ZERO_DECIMAL_CURRENCIES:
            whole = max(1, round(local))
            return whole if as_number else str(whole)
        cents = max(0.01, round(local, 2))
        return cents if as_number else f"{cents:.2f}"

    def _currency_text(self, currency: str) -> str:
        r = self._rng.random()
        if r < 0.01:
            return currency.lower()
        return f" {currency} " if r < 0.02 else currency

    def _event_ms(self, slot: int) -> int:
        rnd = self._rng.random
        base = self._start_ms + slot * self._span_ms // self._count
        r = rnd()
        if r < 0.80:
            late = int(rnd() * 120_000)
        elif r < 0.95:
            late = 120_000 + int(rnd() * 1_680_000)
        else:
            late = 1_800_000 + int(rnd() * 5_400_000)
        return base - min(late, base - self._start_ms)

    def _time_value(self, ms: int) -> Union[int, str]:
        rnd = self._rng.random
        r = rnd()
        if r < 0.25:
            return ms
        if r < 0.40:
            return str(ms)
        with_ms = rnd() < 0.5
        if not with_ms:
            ms -= ms % 1000
        if r < 0.70:
            return format_iso(ms, None, with_ms)
        return format_iso(ms, _UTC_OFFSETS_MIN[int(rnd() * len(_UTC_OFFSETS_MIN))], with_ms)

    def _add_country(self, event: dict[str, Any], currency: str) -> None:
        r = self._rng.random()
        if r < 0.12:
            return
        if r < 0.16:
            event["country"] = None
        elif r < 0.19:
            event["country"] = ""
        else:
            choices = _COUNTRIES_BY_CURRENCY.get(currency, (currency[:2],))
            country = choices[int(self._rng.random() * len(choices))]
            event["country"] = country.lower() if r > 0.97 else country


# --- dirty variants -----------------------------------------------------------

Corrupt = Callable[[random.Random, dict[str, Any]], Event]

_ALL = frozenset(FORMATS)
_NOT_AVRO = frozenset({"jsonl", "csv", "parquet"})
_JSONL = frozenset({"jsonl"})
_CSV = frozenset({"csv"})
_TEXT_FORMATS = frozenset({"csv", "parquet"})


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
    _check_format(fmt)
    return tuple(variant for variant in _VARIANTS if fmt in variant.formats)


class _DirtSource:
    """Hands out dirty variants round-robin, reshuffled every cycle."""

    def __init__(self, variants: Sequence[DirtyVariant], rng: random.Random):
        self._variants = list(variants)
        self._rng = rng
        self._queue: list[DirtyVariant] = []

    def corrupt(self, event: dict[str, Any]) -> Event:
        if not self._queue:
            self._queue = self._rng.sample(self._variants, len(self._variants))
        return self._queue.pop().corrupt(self._rng, event)


# --- the event stream ---------------------------------------------------------

def _resend_delay(rng: random.Random, slot: int, count: int) -> int:
    """How many slots later a duplicate is re-sent: mostly soon, sometimes far."""
    r = rng.random()
    if r < 0.75:
        return rng.randint(1, 50)
    if r < 0.92:
        return rng.randint(51, max(51, count // 20))
    return rng.randint(1, max(1, count - 1 - slot))


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


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
    _check_format(fmt)
    if count < 0 or not 0 <= dirty_rate < 1 or not 0 <= duplicate_rate < 1 - dirty_rate:
        raise ValueError("need count >= 0, 0 <= dirty_rate < 1, 0 <= duplicate_rate < 1 - dirty_rate")
    world = _build_world(catalog, fx_rates, count, seed)
    unknown = sorted({p for pair in planted_pairs for p in pair} - set(world.product_ids))
    if unknown:
        raise ValueError(f"planted pair products not in the catalog: {', '.join(unknown)}")
    factory = _EventFactory(world, seed, max(count, 1), parse_start(start), int(days * 86_400_000),
                            planted_pairs)
    dirt = _DirtSource(dirty_variants(fmt), random.Random(f"{seed}:dirty:{fmt}"))
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


# --- serialisation ------------------------------------------------------------

def to_text(value: Any) -> Optional[str]:
    """String form of a value in text formats (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_values(event: dict[str, Any]) -> list[str]:
    """The CSV cells of an event, in schema order (absent/null -> empty)."""
    return [to_text(event.get(field)) or "" for field in FIELDS]


def _avro_record(event: dict[str, Any]) -> dict[str, Any]:
    record = {field: event.get(field) for field in FIELDS}
    if isinstance(record["unit_price"], int) and not isinstance(record["unit_price"], bool):
        record["unit_price"] = float(record["unit_price"])  # the union has double, not long
    return record


def _records_only(events: Iterable[Event]) -> Iterator[dict[str, Any]]:
    """Drop raw lines (only JSONL and CSV can carry them)."""
    return (event for event in events if isinstance(event, dict))


class _Counter:
    """Counts the items passing through it."""

    def __init__(self, items: Iterable[Any]):
        self._items = items
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self._items:
            self.count += 1
            yield item


_CHUNK = 20_000


def _write_jsonl(fh: BinaryIO, events: Iterable[Event], _seed: int) -> int:
    encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    written, lines = 0, []
    for event in events:
        if isinstance(event, str):
            lines.append(event)
            written += bool(event.strip())
        else:
            lines.append(encode(event))
            written += 1
        if len(lines) >= _CHUNK:
            fh.write(("\n".join(lines) + "\n").encode("utf-8"))
            lines.clear()
    if lines:
        fh.write(("\n".join(lines) + "\n").encode("utf-8"))
    return written


def _write_csv(fh: BinaryIO, events: Iterable[Event], _seed: int) -> int:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    written = 0
    for event in events:
        if isinstance(event, str):
            buf.write(event + "\n")
        else:
            writer.writerow(csv_values(event))
        written += 1
        if written % _CHUNK == 0:
            fh.write(buf.getvalue().encode("utf-8"))
            buf.seek(0)
            buf.truncate()
    fh.write(buf.getvalue().encode("utf-8"))
    return written


def _write_avro(fh: BinaryIO, events: Iterable[Event], seed: int) -> int:
    import fastavro

    schema = fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    records = _Counter(_avro_record(event) for event in _records_only(events))
    sync_marker = random.Random(f"{seed}:avro-sync").randbytes(16)
    fastavro.writer(fh, schema, records, codec="deflate", sync_marker=sync_marker)
    return records.count


def _write_parquet(fh: BinaryIO, events: Iterable[Event], _seed: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(field, pa.string()) for field in FIELDS])
    written = 0
    with pq.ParquetWriter(fh, schema, compression="snappy") as writer:
        batch: list[dict[str, Any]] = []
        for event in _records_only(events):
            batch.append(event)
            if len(batch) >= 100_000:
                writer.write_table(_parquet_table(pa, schema, batch))
                written += len(batch)
                batch = []
        if batch or not written:
            writer.write_table(_parquet_table(pa, schema, batch))
            written += len(batch)
    return written


def _parquet_table(pa: Any, schema: Any, batch: list[dict[str, Any]]) -> Any:
    columns = {field: [to_text(event.get(field)) for event in batch] for field in FIELDS}
    return pa.table(columns, schema=schema)


_WRITERS: dict[str, Callable[[BinaryIO, Iterable[Event], int], int]] = {
    "jsonl": _write_jsonl, "csv": _write_csv, "avro": _write_avro, "parquet": _write_parquet,
}


def infer_format(path: Union[str, Path]) -> tuple[str, bool]:
    """(format, gzip) from a file name such as ``orders.csv.gz``."""
    name = Path(path).name.lower()
    compressed = name.endswith(".gz")
    suffix = Path(name[:-3] if compressed else name).suffix
    if suffix not in _EXTENSIONS:
        raise ValueError(f"cannot infer the format of {path}; pass fmt/--format")
    return _EXTENSIONS[suffix], compressed


@contextlib.contextmanager
def _open_output(path: Path, compress: bool) -> Iterator[BinaryIO]:
    """A binary file, gzip-wrapped with a reproducible header if asked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        if not compress:
            yield raw
            return
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            yield gz  # type: ignore[misc]


def write_orders(
    path: Union[str, Path],
    count: int,
    seed: int,
    fmt: Optional[str] = None,
    *,
    gzip_output: Optional[bool] = None,
    **options: Any,
) -> int:
    """Write ``count`` generated records to ``path``; return the records written.

    ``fmt`` and ``gzip_output`` default to what the file name says; ``options``
    are those of :func:`iter_events` (dirty_rate, duplicate_rate, start, days,
    catalog, fx_rates, blank_rate). Blank JSONL lines are not counted.
    """
    path = Path(path)
    inferred_fmt, inferred_gz = (None, False)
    if fmt is None or gzip_output is None:
        try:
            inferred_fmt, inferred_gz = infer_format(path)
        except ValueError:
            if fmt is None:
                raise
    fmt = fmt or inferred_fmt
    assert fmt is not None
    compress = inferred_gz if gzip_output is None else gzip_output
    return write_events(path, iter_events(count, seed, fmt=fmt, **options), fmt,
                        seed=seed, gzip_output=compress)


def write_events(
    path: Union[str, Path],
    events: Iterable[Event],
    fmt: str,
    *,
    seed: int = 0,
    gzip_output: bool = False,
) -> int:
    """Serialise given ``events`` (e.g. hand-made ones) to ``path`` in ``fmt``.

    Raw-line events are skipped in Avro and Parquet. ``seed`` only fixes the
    Avro sync marker. Returns the number of records written.
    """
    _check_format(fmt)
    with _open_output(Path(path), gzip_output) as fh:
        return _WRITERS[fmt](fh, events, seed)


# --- command line -------------------------------------------------------------

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


if __name__ == "__main__":
    sys.exit(main())

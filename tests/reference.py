"""Independent reference computation of the sales pipeline's expected output.

Written from ``docs/semantics.md`` alone, in plain Python (json, csv, decimal,
datetime; fastavro and pyarrow only to read those formats). It deliberately
imports nothing from the project's ``transforms/`` or ``pipelines/`` packages:
the tests compare the pipeline against it, so it must not share their code.

Entry point: :func:`compute_expected`. Choices where the semantics page is
silent are marked "Unspecified:" in the comments below.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

__all__ = [
    "Expected", "Order", "compute_expected", "detect_format", "read_payloads",
    "validate", "load_catalog", "load_fx", "round_cents", "ALL_REASONS",
]

FIELDS = ("order_id", "customer_id", "product_id", "quantity",
          "unit_price", "currency", "event_time", "country")
REQUIRED = FIELDS[:-1]
ALL_REASONS: tuple[str, ...] = (
    "malformed",
    *(f"missing_field:{f}" for f in REQUIRED),
    "bad_type:order_id", "bad_type:customer_id", "bad_type:product_id",
    "bad_type:quantity", "bad_type:unit_price", "bad_type:currency", "bad_type:country",
    "out_of_range:quantity", "out_of_range:unit_price",
    "unknown_currency", "bad_time",
)
ALL_CATEGORIES = "__all__"
UNKNOWN_CATEGORY = "unknown"
# Event times: 1970-01-01T00:00:00.000Z .. 9998-12-31T23:59:59.999Z, in
# either form (docs/semantics.md: a year below the stores' end, for windows).
MIN_EPOCH_MS = 0
MAX_EPOCH_MS = (datetime(9999, 1, 1, tzinfo=timezone.utc)
                - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)
_SIGNED_DIGITS = re.compile(r"[+-]?[0-9]+")
_EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
               ".csv": "csv", ".avro": "avro", ".parquet": "parquet"}


class _Malformed:
    """Marker payload for a line/row that could not be decoded at all."""


MALFORMED = _Malformed()


@dataclass(frozen=True)
class Order:
    """A valid, normalised order event and where it came from."""

    # Who ordered what, and when; then the amounts; then where it came from.
    order_id: str
    customer_id: str
    product_id: str
    event_ms: int
    quantity: int
    unit_price: Decimal
    currency: str
    country: Optional[str]
    source: str
    position: int


@dataclass
class Expected:
    """What the pipeline must produce for a bounded run."""

    counts: dict[str, int]
    """read, valid, duplicates, dead_letters, and one entry per dead-letter reason."""
    dead_letters: list[tuple[str, str, int]]
    """(reason, source, position), in reading order."""
    results: list[dict[str, Any]]
    """Category rows (and ``__all__`` rows) per window, sorted."""
    top_products: list[dict[str, Any]]
    """Top-N products per window, sorted by window then rank."""
    orders: list[Order] = field(default_factory=list)
    """The surviving (deduplicated) valid orders."""

    @property
    def reasons(self) -> dict[str, int]:
        """Dead letters per reason (only reasons that occurred)."""
        return {k: v for k, v in self.counts.items() if k not in _TOTAL_KEYS}


_TOTAL_KEYS = frozenset({"read", "valid", "duplicates", "dead_letters"})


class Invalid(Exception):
    """A validation failure carrying its dead-letter reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- reading ------------------------------------------------------------------

def detect_format(path: str, input_format: Optional[str] = None) -> tuple[str, bool]:
    """(format, gzipped) from the extension; ``input_format`` overrides the format."""
    name = Path(path).name.lower()
    gzipped = name.endswith(".gz")
    if input_format:
        return input_format, gzipped
    suffix = Path(name[:-3] if gzipped else name).suffix
    if suffix not in _EXTENSIONS:
        raise ValueError(f"cannot tell the format of {path}")
    return _EXTENSIONS[suffix], gzipped


def _read_bytes(path: str, gzipped: bool) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read()
    return gzip.decompress(data) if gzipped else data


def _jsonl_payloads(data: bytes) -> Iterator[tuple[int, Any]]:
    # Unspecified: lines end at "\n" only (a trailing "\r" is JSON white space);
    # blank means str.isspace() after UTF-8 decoding; JSON is Python's json
    # module (so bare NaN/Infinity parse, as floats, and fail later as types).
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, MALFORMED
            continue
        if not text.strip():
            continue
        try:
            yield number, json.loads(text, parse_float=Decimal,
                                     parse_int=_integer)
        except (ValueError, RecursionError):
            yield number, MALFORMED


class _LongInt(Decimal):
    """A JSON integer too long for int() (Python's digit limit): a number."""


def _integer(text: str) -> Union[int, Decimal]:
    return int(text) if len(text) < 100 else _LongInt(text)


def _csv_payloads(data: bytes) -> Iterator[tuple[int, Any]]:
    # Unspecified: blank physical lines are skipped like in JSONL; header
    # names are stripped; a csv.Error (e.g. an unterminated quote at EOF)
    # makes that row malformed and ends the file.
    # A UTF-8 byte-order mark is not part of the first field's name.
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield start, MALFORMED
            return
        last_line = reader.line_num
        if not row:
            continue
        yield start, dict(zip(header, row)) if len(row) == len(header) else MALFORMED


def _avro_payloads(data: bytes) -> Iterator[tuple[int, Any]]:
    import fastavro

    for number, record in enumerate(fastavro.reader(io.BytesIO(data)), start=1):
        yield number, record


def _parquet_payloads(data: bytes) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(io.BytesIO(data)).iter_batches():
        for row in batch.to_pylist():
            number += 1
            yield number, row


_READERS = {"jsonl": _jsonl_payloads, "csv": _csv_payloads,
            "avro": _avro_payloads, "parquet": _parquet_payloads}


def read_payloads(path: str, input_format: Optional[str] = None) -> Iterator[tuple[int, Any]]:
    """(position, payload) for every record read from ``path``.

    A payload is the decoded record (normally a dict) or :data:`MALFORMED`.
    """
    fmt, gzipped = detect_format(path, input_format)
    return _READERS[fmt](_read_bytes(path, gzipped))


# --- validation ---------------------------------------------------------------

def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _required(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if _is_missing(value):
        raise Invalid(f"missing_field:{name}")
    return value


def _id(record: dict[str, Any], name: str) -> str:
    value = _required(record, name)
    if not isinstance(value, str):
        raise Invalid(f"bad_type:{name}")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):  # a lone surrogate
        raise Invalid(f"bad_type:{name}")
    return value.strip()


def _whole(value: Any) -> Optional[Decimal]:
    """A JSON (or Avro/Parquet) integer as an exact Decimal, else None."""
    if isinstance(value, _LongInt):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return None


def _quantity(record: dict[str, Any]) -> int:
    value = _required(record, "quantity")
    if _whole(value) is not None:
        quantity = _whole(value)
    elif isinstance(value, str) and _SIGNED_DIGITS.fullmatch(value.strip()):
        quantity = Decimal(value.strip())  # no digit limit, unlike int()
    else:
        raise Invalid("bad_type:quantity")
    if not 1 <= quantity <= 10000:
        raise Invalid("out_of_range:quantity")
    return int(quantity)


def _to_decimal(value: Any) -> Optional[Decimal]:
    """The exact decimal of a price value, or None if it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):  # a JSON number with a fraction/exponent, from its text
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # Unspecified: a binary double (Avro/Parquet) is read via its shortest repr.
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def _unit_price(record: dict[str, Any]) -> Decimal:
    price = _to_decimal(_required(record, "unit_price"))
    if price is None or not price.is_finite():
        raise Invalid("bad_type:unit_price")
    if not Decimal(0) < price <= Decimal(1000000):
        raise Invalid("out_of_range:unit_price")
    return price


def _currency(record: dict[str, Any], fx: dict[str, Decimal]) -> str:
    value = _required(record, "currency")
    if not isinstance(value, str):
        raise Invalid("bad_type:currency")
    code = value.strip().upper()
    if code not in fx:
        raise Invalid("unknown_currency")
    return code


def _event_ms(record: dict[str, Any]) -> int:
    value = _required(record, "event_time")
    if _whole(value) is not None:
        millis = _whole(value)
    elif isinstance(value, str):
        # Unspecified: surrounding white space is stripped first.
        text = value.strip()
        if text.isascii() and text.isdigit():
            millis = Decimal(text)  # no digit limit, unlike int()
        else:
            return _iso_ms(text)
    else:
        raise Invalid("bad_time")
    if not MIN_EPOCH_MS <= millis <= MAX_EPOCH_MS:
        raise Invalid("bad_time")
    return int(millis)


def _iso_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("bad_time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid("bad_time")
    try:
        # Exact (no float): floor to the millisecond.
        millis = (moment - _EPOCH) // _ONE_MS
    except OverflowError:  # 9999-12-31 with a negative offset
        raise Invalid("bad_time") from None
    if not MIN_EPOCH_MS <= millis <= MAX_EPOCH_MS:
        raise Invalid("bad_time")
    return millis


def _country(record: dict[str, Any]) -> Optional[str]:
    value = record.get("country")
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid("bad_type:country")
    code = value.strip()
    if not code:
        return None
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        raise Invalid("bad_type:country")
    return code.upper()


def validate(payload: Any, fx: dict[str, Decimal], source: str = "", position: int = 0) -> Order:
    """A valid :class:`Order`, or raise :class:`Invalid` with the first failing reason."""
    if not isinstance(payload, dict):
        raise Invalid("malformed")
    return Order(
        order_id=_id(payload, "order_id"),
        customer_id=_id(payload, "customer_id"),
        product_id=_id(payload, "product_id"),
        quantity=_quantity(payload),
        unit_price=_unit_price(payload),
        currency=_currency(payload, fx),
        event_ms=_event_ms(payload),
        country=_country(payload),
        source=source,
        position=position,
    )


# --- reference data -----------------------------------------------------------

def load_catalog(path: str) -> dict[str, tuple[str, str]]:
    """product_id -> (category, name). Unspecified: a repeated id keeps its last row."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["product_id"].strip(): (row["category"].strip(), row["name"])
                for row in csv.DictReader(fh)}


def load_fx(path: str) -> dict[str, Decimal]:
    """currency -> exact USD per unit."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["currency"].strip().upper(): Decimal(row["usd_per_unit"].strip())
                for row in csv.DictReader(fh)}


# --- windows ------------------------------------------------------------------

Window = tuple[int, int, str]  # (start_ms, end_ms, customer_id)


def _fixed_windows(event_ms: int, size_ms: int) -> list[tuple[int, int]]:
    start = event_ms - event_ms % size_ms
    return [(start, start + size_ms)]


def _sliding_windows(event_ms: int, size_ms: int, period_ms: int) -> list[tuple[int, int]]:
    last_start = event_ms - event_ms % period_ms
    return [(start, start + size_ms)
            for start in range(last_start, event_ms - size_ms, -period_ms)]


def _session_windows(orders: list[Order], gap_ms: int) -> dict[Window, list[Order]]:
    """Per customer, merge the windows [t, t + gap) that overlap (strictly)."""
    by_customer: dict[str, list[Order]] = defaultdict(list)
    for order in orders:
        by_customer[order.customer_id].append(order)
    sessions: dict[Window, list[Order]] = {}
    for customer, own in by_customer.items():
        own.sort(key=lambda o: o.event_ms)
        members: list[Order] = []
        start = end = 0
        for order in own:
            if members and order.event_ms < end:
                members.append(order)
                end = max(end, order.event_ms + gap_ms)
                continue
            if members:
                sessions[(start, end, customer)] = members
            members, start, end = [order], order.event_ms, order.event_ms + gap_ms
        if members:
            sessions[(start, end, customer)] = members
    return sessions


def _assign_windows(orders: list[Order], window: str, size_s: float,
                    period_s: Optional[float], gap_s: Optional[float]) -> dict[Window, list[Order]]:
    if window in ("sessions", "session"):
        if gap_s is None:
            raise ValueError("sessions need gap_s")
        return _session_windows(orders, _ms(gap_s))
    size_ms = _ms(size_s)
    if window == "fixed":
        assign = lambda t: _fixed_windows(t, size_ms)  # noqa: E731
    elif window == "sliding":
        if period_s is None:
            raise ValueError("sliding windows need period_s")
        period_ms = _ms(period_s)
        assign = lambda t: _sliding_windows(t, size_ms, period_ms)  # noqa: E731
    else:
        raise ValueError(f"unknown window kind {window!r}")
    windows: dict[Window, list[Order]] = defaultdict(list)
    for order in orders:
        for start, end in assign(order.event_ms):
            windows[(start, end, "")].append(order)
    return windows


def _ms(seconds: float) -> int:
    millis = Fraction(str(seconds)) * 1000
    if millis.denominator != 1 or millis <= 0:
        raise ValueError(f"window length must be a positive whole number of ms: {seconds}")
    return int(millis)


# --- aggregation --------------------------------------------------------------

def _exact() -> Context:
    """A fresh context in which + and * never round (Inexact would raise)."""
    return Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, InvalidOperation])


def round_cents(value: Union[Decimal, Fraction]) -> Decimal:
    """Round an exact amount to cents, ROUND_HALF_UP (ties away from zero)."""
    cents = Fraction(value) * 100
    whole, rest = divmod(abs(cents.numerator), cents.denominator)
    if 2 * rest >= cents.denominator:
        whole += 1
    signed = -whole if cents < 0 else whole
    return Decimal(signed).scaleb(-2, context=_exact())


def _revenue(order: Order, fx: dict[str, Decimal]) -> Decimal:
    exact = _exact()
    return exact.multiply(exact.multiply(Decimal(order.quantity), order.unit_price),
                          fx[order.currency])


def _sum(values: Iterable[Decimal]) -> Decimal:
    exact, total = _exact(), Decimal(0)
    for value in values:
        total = exact.add(total, value)
    return total


def _category_rows(window: Window, members: list[Order], fx: dict[str, Decimal],
                   catalog: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    groups: dict[str, list[Order]] = defaultdict(list)
    for order in members:
        groups[_category(order.product_id, catalog)].append(order)
    groups[ALL_CATEGORIES] = list(members)
    rows = []
    for category, orders in groups.items():
        revenue = _sum(_revenue(o, fx) for o in orders)
        rows.append({
            "window_start_ms": window[0], "window_end_ms": window[1],
            "customer_id": window[2], "category": category,
            "orders": len(orders), "units": sum(o.quantity for o in orders),
            "revenue_usd": round_cents(revenue),
            "distinct_customers": len({o.customer_id for o in orders}),
            "avg_order_value_usd": round_cents(Fraction(revenue) / len(orders)),
        })
    return rows


def _top_rows(window: Window, members: list[Order], fx: dict[str, Decimal],
              catalog: dict[str, tuple[str, str]], top_n: int) -> list[dict[str, Any]]:
    by_product: dict[str, list[Order]] = defaultdict(list)
    for order in members:
        by_product[order.product_id].append(order)
    totals = [(_sum(_revenue(o, fx) for o in orders), product, orders)
              for product, orders in by_product.items()]
    totals.sort(key=lambda item: (-item[0], item[1]))
    rows = []
    for rank, (revenue, product, orders) in enumerate(totals[:top_n], start=1):
        category, name = catalog.get(product, (UNKNOWN_CATEGORY, ""))
        rows.append({
            "window_start_ms": window[0], "window_end_ms": window[1],
            "customer_id": window[2], "rank": rank, "product_id": product,
            "product_name": name, "category": category, "orders": len(orders),
            "units": sum(o.quantity for o in orders), "revenue_usd": round_cents(revenue),
        })
    return rows


def _category(product_id: str, catalog: dict[str, tuple[str, str]]) -> str:
    return catalog.get(product_id, (UNKNOWN_CATEGORY, ""))[0]


# --- the whole computation ----------------------------------------------------

def _classify(input_paths: list[str], fx: dict[str, Decimal], input_format: Optional[str]
              ) -> tuple[int, list[Order], list[tuple[str, str, int]]]:
    """(records read, valid orders, dead letters) over all inputs."""
    read, valid, dead = 0, [], []
    for source in input_paths:
        for position, payload in read_payloads(source, input_format):
            read += 1
            try:
                valid.append(validate(payload, fx, source, position))
            except Invalid as failure:
                dead.append((failure.reason, source, position))
    return read, valid, dead


def _dedupe(valid: list[Order]) -> list[Order]:
    """One survivor per order_id: the smallest (source, partition, position).

    Files have no partition (None for all), so (source, position) decides.
    """
    first: dict[str, Order] = {}
    for order in valid:
        kept = first.get(order.order_id)
        if kept is None or (order.source, order.position) < (kept.source, kept.position):
            first[order.order_id] = order
    return sorted(first.values(), key=lambda o: (o.source, o.position))


def compute_expected(
    input_paths: list[str],
    catalog_path: str,
    fx_path: str,
    *,
    window: str = "fixed",
    size_s: float = 3600,
    period_s: Optional[float] = None,
    gap_s: Optional[float] = None,
    top_n: int = 5,
    input_format: Optional[str] = None,
) -> Expected:
    """The expected counts, dead letters and result rows of a bounded run.

    ``window`` is ``fixed`` (``size_s``), ``sliding`` (``size_s``, ``period_s``)
    or ``sessions`` (``gap_s``, per customer).
    """
    fx = load_fx(fx_path)
    catalog = load_catalog(catalog_path)
    read, valid, dead = _classify(list(input_paths), fx, input_format)
    survivors = _dedupe(valid)
    counts = {"read": read, "valid": len(survivors),
              "duplicates": len(valid) - len(survivors), "dead_letters": len(dead)}
    counts.update(sorted(Counter(reason for reason, _, _ in dead).items()))
    windows = _assign_windows(survivors, window, size_s, period_s, gap_s)
    results, top = [], []
    for key in sorted(windows):
        results += _category_rows(key, windows[key], fx, catalog)
        top += _top_rows(key, windows[key], fx, catalog, top_n)
    results.sort(key=lambda r: (r["window_start_ms"], r["window_end_ms"], r["customer_id"], r["category"]))
    return Expected(counts=counts, dead_letters=dead, results=results,
                    top_products=top, orders=survivors)

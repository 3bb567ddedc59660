"""Tests of the order generator (tools/generate_orders/) and of the
independent reference computation (tests/reference.py) it is checked with."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.reference import ALL_REASONS, Expected, Invalid, compute_expected, load_fx, validate
from tools.generate_orders import (
    FIELDS, FORMATS, dirty_variants, generate_events, infer_format, write_events, write_orders,
)

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "data" / "catalog.csv"
FX_RATES = ROOT / "data" / "fx_rates.csv"
SAMPLE = ROOT / "data" / "sample" / "orders.jsonl"
SAMPLE_ARGS: dict[str, Any] = {"count": 3000, "seed": 42, "dirty_rate": 0.03, "duplicate_rate": 0.02}
START_MS = 1793577600000  # 2026-11-02T00:00:00Z
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "avro": "avro", "parquet": "parquet"}


def expected(paths: list[Path], catalog: Path = CATALOG, fx: Path = FX_RATES, **kwargs: Any) -> Expected:
    """The reference answer for files in the given order."""
    return compute_expected([str(p) for p in paths], str(catalog), str(fx), **kwargs)


def assert_reconciles(counts: dict[str, int]) -> None:
    """read = valid + dead letters + duplicates, and the reasons add up."""
    assert counts["read"] == counts["valid"] + counts["dead_letters"] + counts["duplicates"]
    assert sum(counts.get(reason, 0) for reason in ALL_REASONS) == counts["dead_letters"]
    assert set(counts) <= {"read", "valid", "duplicates", "dead_letters", *ALL_REASONS}


def native_record_count(path: Path) -> int:
    """Records in a file, counted with each format's own library."""
    fmt, gzipped = infer_format(path)
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if fmt == "jsonl":
        return sum(1 for line in data.decode("utf-8").split("\n") if line.strip())
    if fmt == "csv":
        rows = list(csv.reader(data.decode("utf-8").splitlines(keepends=True)))
        assert tuple(rows[0]) == FIELDS
        return len(rows) - 1
    if fmt == "avro":
        import fastavro

        reader = fastavro.reader(io.BytesIO(data))
        assert reader.writer_schema["name"] == "shop.sales.OrderEvent"
        return sum(1 for _ in reader)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    assert table.schema.names == list(FIELDS)
    assert all(col.type == pa.string() for col in table.schema)
    return table.num_rows


# --- generator: determinism and formats ----------------------------------------

ALL_NAMES = [f"orders.{ext}" for ext in EXTENSIONS.values()] + [
    f"orders.{ext}.gz" for ext in EXTENSIONS.values()]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_same_seed_gives_same_bytes(tmp_path: Path, name: str) -> None:
    first, second = tmp_path / "a" / name, tmp_path / "b" / name
    write_orders(first, 600, 3, dirty_rate=0.05, duplicate_rate=0.05)
    write_orders(second, 600, 3, dirty_rate=0.05, duplicate_rate=0.05)
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("name", ["orders.avro", "orders.parquet"])
def test_same_seed_gives_same_bytes_in_another_process(tmp_path: Path, name: str) -> None:
    """Two runs of the command, each with its own string hashing (as any two
    Python processes have): the same file. The Avro header once embedded the
    schema in an order that followed PYTHONHASHSEED."""
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed / name
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        subprocess.run([sys.executable, "-m", "tools.generate_orders", "--count", "200",
                        "--seed", "3", "--out", str(out)],
                       cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("name", ["orders.jsonl", "orders.parquet"])
def test_other_seed_gives_other_bytes(tmp_path: Path, name: str) -> None:
    write_orders(tmp_path / "a" / name, 300, 1)
    write_orders(tmp_path / "b" / name, 300, 2)
    assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes()


def test_generate_events_is_deterministic_and_counts_records() -> None:
    first = generate_events(500, 9, dirty_rate=0.1, duplicate_rate=0.1, blank_rate=0.05)
    assert first == generate_events(500, 9, dirty_rate=0.1, duplicate_rate=0.1, blank_rate=0.05)
    blanks = [e for e in first if isinstance(e, str) and not e.strip()]
    assert blanks and len(first) - len(blanks) == 500


def test_gzip_jsonl_decompresses_to_plain_jsonl(tmp_path: Path) -> None:
    write_orders(tmp_path / "o.jsonl", 400, 4)
    write_orders(tmp_path / "o.jsonl.gz", 400, 4)
    assert gzip.decompress((tmp_path / "o.jsonl.gz").read_bytes()) == (tmp_path / "o.jsonl").read_bytes()


def test_format_is_inferred_from_the_name() -> None:
    assert infer_format("x/orders.csv.gz") == ("csv", True)
    assert infer_format("orders.ndjson") == ("jsonl", False)
    assert infer_format("orders.PARQUET") == ("parquet", False)
    with pytest.raises(ValueError):
        infer_format("orders.txt")


def test_explicit_format_and_gzip_override_the_name(tmp_path: Path) -> None:
    path = tmp_path / "orders.data"
    write_orders(path, 50, 1, fmt="csv", gzip_output=True)
    assert gzip.decompress(path.read_bytes()).startswith(",".join(FIELDS).encode())


@pytest.mark.parametrize("name", ALL_NAMES)
def test_each_format_is_readable_and_accounts_for_every_record(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert write_orders(path, 400, 11, dirty_rate=0.1, duplicate_rate=0.05) == 400
    assert native_record_count(path) == 400
    counts = expected([path]).counts
    assert counts["read"] == 400
    assert counts["dead_letters"] > 0 and counts["duplicates"] > 0
    assert_reconciles(counts)


def test_all_formats_give_the_same_valid_results(tmp_path: Path) -> None:
    answers = {}
    for fmt, ext in EXTENSIONS.items():
        path = tmp_path / f"orders.{ext}"
        write_orders(path, 1500, 5, dirty_rate=0.05, duplicate_rate=0.03)
        answers[fmt] = expected([path])
    reference = answers["jsonl"]
    for fmt, answer in answers.items():
        assert answer.results == reference.results, fmt
        assert answer.top_products == reference.top_products, fmt
        for key in ("read", "valid", "duplicates", "dead_letters"):
            assert answer.counts[key] == reference.counts[key], (fmt, key)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_dirty_variant_earns_its_reason(tmp_path: Path, fmt: str) -> None:
    """Each variant, written in each format it claims, is read back with its reason."""
    valid = [e for e in generate_events(100, 8, dirty_rate=0, duplicate_rate=0) if isinstance(e, dict)]
    rng = random.Random(0)
    variants = [v for v in dirty_variants(fmt) for _ in range(3)]
    events = [variant.corrupt(rng, valid[i % len(valid)]) for i, variant in enumerate(variants)]
    path = tmp_path / f"dirty.{EXTENSIONS[fmt]}"
    write_events(path, events, fmt)
    answer = expected([path])
    assert answer.counts["read"] == len(variants)
    assert [(name, reason) for name, (reason, _, _) in zip((v.name for v in variants), answer.dead_letters)] \
        == [(v.name, v.reason) for v in variants]


def test_jsonl_variants_cover_every_reason() -> None:
    assert {v.reason for v in dirty_variants("jsonl")} == set(ALL_REASONS)


# --- the bundled sample ---------------------------------------------------------

@pytest.fixture(scope="module")
def sample() -> Expected:
    return expected([SAMPLE])


def test_sample_is_reproducible_from_its_recorded_command(tmp_path: Path) -> None:
    regenerated = tmp_path / "orders.jsonl"
    args = dict(SAMPLE_ARGS)
    write_orders(regenerated, args.pop("count"), args.pop("seed"), **args)
    assert regenerated.read_bytes() == SAMPLE.read_bytes()
    readme = (SAMPLE.parent / "README.md").read_text()
    assert "--count 3000 --seed 42 --dirty-rate 0.03 --duplicate-rate 0.02" in readme


def test_sample_is_small() -> None:
    assert SAMPLE.stat().st_size < 1_000_000


def test_sample_has_every_dead_letter_reason(sample: Expected) -> None:
    assert set(sample.reasons) == set(ALL_REASONS)


def test_sample_counts_reconcile(sample: Expected) -> None:
    counts = sample.counts
    assert counts["read"] == 3000
    assert_reconciles(counts)
    assert 0.02 <= counts["dead_letters"] / counts["read"] <= 0.045
    assert 0.01 <= counts["duplicates"] / counts["read"] <= 0.035


def test_sample_spans_two_days_out_of_order(sample: Expected) -> None:
    times = [o.event_ms for o in sorted(sample.orders, key=lambda o: o.position)]
    assert START_MS <= min(times) and max(times) < START_MS + 48 * HOUR_MS
    assert max(times) > START_MS + 47 * HOUR_MS
    running_max, max_lateness = times[0], 0
    for t in times:
        running_max = max(running_max, t)
        max_lateness = max(max_lateness, running_max - t)
    assert 30 * MINUTE_MS < max_lateness <= 2 * HOUR_MS


def test_sample_varies_like_real_input(sample: Expected) -> None:
    assert {"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK"} <= {o.currency for o in sample.orders}
    assert "unknown" in {row["category"] for row in sample.results}
    assert {o.country for o in sample.orders} >= {None, "US", "GB"}
    lines = SAMPLE.read_text().split("\n")[:-1]
    assert any(not line.strip() for line in lines)
    records = [record for record in map(_json_or_none, lines) if isinstance(record, dict)]
    times = [r.get("event_time") for r in records]
    assert any(isinstance(t, int) and not isinstance(t, bool) for t in times)
    assert any(isinstance(t, str) and t.isdigit() for t in times)
    assert any(isinstance(t, str) and t.endswith("Z") for t in times)
    for offset in ("+02:00", "-05:00", "+05:30"):
        assert any(isinstance(t, str) and t.endswith(offset) for t in times), offset
    prices = [r.get("unit_price") for r in records]
    assert any(isinstance(p, float) for p in prices) and any(isinstance(p, str) for p in prices)
    assert any("country" not in r for r in records) and any("country" in r for r in records)


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def test_sample_has_near_and_far_duplicates() -> None:
    first_seen: dict[str, int] = {}
    distances = []
    for number, line in enumerate(SAMPLE.read_text().split("\n"), start=1):
        if line.strip() and line in first_seen:
            distances.append(number - first_seen[line])
        first_seen.setdefault(line, number)
    assert min(distances) < 10 and max(distances) > 1000


# --- the reference itself, on hand-written input --------------------------------

HAND_CATALOG = 'product_id,category,name\nP1,books,Book One\nP2,toys,"Toy, Two"\nP3,toys,Top\n'
HAND_FX = "currency,usd_per_unit\nUSD,1\nEUR,1.1\nJPY,0.006712\n"
A1 = ('{"order_id":"A1","customer_id":"C1","product_id":"P1","quantity":2,"unit_price":10.005,'
      '"currency":"USD","event_time":"2026-11-02T00:10:00Z"}')
HAND_JSONL = [
    A1,  # 1: valid, T0+10min, books, 2 x 10.005 USD = 20.010
    '{"order_id":"A2","customer_id":"C2","product_id":"P2","quantity":"3","unit_price":"1.10",'
    '"currency":" eur ","event_time":"2026-11-02T02:30:00+02:00","country":"de"}',
    # 2: valid, 00:30Z = T0+30min, toys, 3 x 1.10 EUR x 1.1 = 3.630
    "   ",  # 3: blank: skipped, not read
    A1,  # 4: exact re-send of line 1: duplicate
    '{"order_id":"A3","customer_id":"C1","product_id":"PX","quantity":1,"unit_price":1000,'
    '"currency":"JPY","event_time":1793581500000}',
    # 5: valid, T0+65min, unknown product, 1000 JPY x 0.006712 = 6.712
    '{"order_id":"A4","customer_id":"C3","product_id":"P1","quantity":2.0,"unit_price":1,'
    '"currency":"USD","event_time":"2026-11-02T00:15:00Z"}',  # 6: bad_type:quantity (JSON float)
    "[1, 2]",  # 7: malformed (array)
    '{"order_id":"A5","customer_id":"C3","product_id":"P1","quantity":1,"unit_price":1,'
    '"currency":"USD","event_time":"2026-11-02T00:20:00"}',  # 8: bad_time (naive)
    '{"order_id":"A6","customer_id":"C3","product_id":"P1","quantity":1,"unit_price":1,'
    '"currency":"USD","event_time":"2026-11-02T00:40:00Z","country":"USA"}',  # 9: bad_type:country
    '{"order_id":"A7","customer_id":" C3 ","product_id":"P1","quantity":1,"unit_price":"0.005",'
    '"currency":"USD","event_time":"2026-11-02T00:59:59.999Z"}',
    # 10: valid, T0+1h-1ms (still window 0), customer "C3", books, 0.005
    '{"order_id":" A2 ","customer_id":"C2","product_id":"P2","quantity":1,"unit_price":1,'
    '"currency":"XYZ","event_time":"2026-11-02T00:30:00Z"}',
    # 11: unknown_currency: a dead letter, not a duplicate of A2
    '{"order_id":"A8","product_id":"P2","quantity":1,"unit_price":1,"currency":"USD",'
    '"event_time":"2026-11-02T00:30:00Z"}',  # 12: missing_field:customer_id
]
# read 11 (12 lines - 1 blank) = valid 4 (A1 A2 A3 A7) + duplicates 1 + dead letters 6


@pytest.fixture()
def hand_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    (tmp_path / "catalog.csv").write_text(HAND_CATALOG)
    (tmp_path / "fx.csv").write_text(HAND_FX)
    (tmp_path / "orders.jsonl").write_text("\n".join(HAND_JSONL) + "\n")
    return tmp_path / "orders.jsonl", tmp_path / "catalog.csv", tmp_path / "fx.csv"


def hand_expected(files: tuple[Path, Path, Path], **kwargs: Any) -> Expected:
    orders, catalog, fx = files
    return expected([orders], catalog, fx, **kwargs)


def row(start: int, end: int, category: str, orders: int, units: int, revenue: str,
        customers: int, avg: str, customer: str = "") -> dict[str, Any]:
    return {"window_start_ms": start, "window_end_ms": end, "customer_id": customer,
            "category": category, "orders": orders, "units": units,
            "revenue_usd": Decimal(revenue), "distinct_customers": customers,
            "avg_order_value_usd": Decimal(avg)}


def test_reference_counts_and_dead_letters_by_hand(hand_files: tuple[Path, Path, Path]) -> None:
    answer = hand_expected(hand_files)
    source = str(hand_files[0])
    assert answer.counts == {
        "read": 11, "valid": 4, "duplicates": 1, "dead_letters": 6,
        "bad_type:quantity": 1, "malformed": 1, "bad_time": 1, "bad_type:country": 1,
        "unknown_currency": 1, "missing_field:customer_id": 1,
    }
    assert answer.dead_letters == [
        ("bad_type:quantity", source, 6), ("malformed", source, 7), ("bad_time", source, 8),
        ("bad_type:country", source, 9), ("unknown_currency", source, 11),
        ("missing_field:customer_id", source, 12),
    ]


def test_reference_fixed_windows_by_hand(hand_files: tuple[Path, Path, Path]) -> None:
    answer = hand_expected(hand_files)
    w0, w1, w2 = START_MS, START_MS + HOUR_MS, START_MS + 2 * HOUR_MS
    assert answer.results == [
        # window 0: A1 (books 20.010), A2 (toys 3.630), A7 (books 0.005)
        # all: 23.645 -> 23.65 (HALF_UP; HALF_EVEN would give 23.64); avg 7.8816.. -> 7.88
        row(w0, w1, "__all__", 3, 6, "23.65", 3, "7.88"),
        # books: 20.015 -> 20.02; avg 10.0075 -> 10.01
        row(w0, w1, "books", 2, 3, "20.02", 2, "10.01"),
        row(w0, w1, "toys", 1, 3, "3.63", 1, "3.63"),
        # window 1: A3 only, 6.712 -> 6.71
        row(w1, w2, "__all__", 1, 1, "6.71", 1, "6.71"),
        row(w1, w2, "unknown", 1, 1, "6.71", 1, "6.71"),
    ]
    assert answer.top_products == [
        {"window_start_ms": w0, "window_end_ms": w1, "customer_id": "", "rank": 1, "product_id": "P1",
         "product_name": "Book One", "category": "books", "orders": 2, "units": 3,
         "revenue_usd": Decimal("20.02")},
        {"window_start_ms": w0, "window_end_ms": w1, "customer_id": "", "rank": 2, "product_id": "P2",
         "product_name": "Toy, Two", "category": "toys", "orders": 1, "units": 3,
         "revenue_usd": Decimal("3.63")},
        {"window_start_ms": w1, "window_end_ms": w2, "customer_id": "", "rank": 1, "product_id": "PX",
         "product_name": "", "category": "unknown", "orders": 1, "units": 1,
         "revenue_usd": Decimal("6.71")},
    ]


def test_reference_sliding_windows_by_hand(hand_files: tuple[Path, Path, Path]) -> None:
    answer = hand_expected(hand_files, window="sliding", size_s=3600, period_s=1800)
    totals = [(r["window_start_ms"], r["orders"], r["units"], r["revenue_usd"], r["distinct_customers"])
              for r in answer.results if r["category"] == "__all__"]
    half = HOUR_MS // 2
    assert totals == [
        (START_MS - half, 1, 2, Decimal("20.01"), 1),  # A1 (T0+10m)
        (START_MS, 3, 6, Decimal("23.65"), 3),  # A1, A2, A7
        (START_MS + half, 3, 5, Decimal("10.35"), 3),  # A2, A7, A3: 3.630+0.005+6.712 = 10.347
        (START_MS + 2 * half, 1, 1, Decimal("6.71"), 1),  # A3 (T0+65m)
    ]
    assert all(r["window_end_ms"] - r["window_start_ms"] == HOUR_MS for r in answer.results)


def test_reference_sessions_by_hand(hand_files: tuple[Path, Path, Path]) -> None:
    answer = hand_expected(hand_files, window="sessions", gap_s=3600)
    # C1: A1 [T0+10m, T0+70m) overlaps A3 at T0+65m -> one session [T0+10m, T0+125m)
    c1_start, c1_end = START_MS + 10 * MINUTE_MS, START_MS + 125 * MINUTE_MS
    # C2: A2 alone [T0+30m, T0+90m); C3: A7 alone [T0+1h-1ms, T0+2h-1ms)
    c2_start, c3_start = START_MS + 30 * MINUTE_MS, START_MS + HOUR_MS - 1
    assert answer.results == [
        # C1: 20.010 + 6.712 = 26.722 -> 26.72; avg 13.361 -> 13.36
        row(c1_start, c1_end, "__all__", 2, 3, "26.72", 1, "13.36", "C1"),
        row(c1_start, c1_end, "books", 1, 2, "20.01", 1, "20.01", "C1"),
        row(c1_start, c1_end, "unknown", 1, 1, "6.71", 1, "6.71", "C1"),
        row(c2_start, c2_start + HOUR_MS, "__all__", 1, 3, "3.63", 1, "3.63", "C2"),
        row(c2_start, c2_start + HOUR_MS, "toys", 1, 3, "3.63", 1, "3.63", "C2"),
        # C3: 0.005 -> 0.01 (HALF_UP; HALF_EVEN would give 0.00)
        row(c3_start, c3_start + HOUR_MS, "__all__", 1, 1, "0.01", 1, "0.01", "C3"),
        row(c3_start, c3_start + HOUR_MS, "books", 1, 1, "0.01", 1, "0.01", "C3"),
    ]
    assert [r["customer_id"] for r in answer.top_products] == ["C1", "C1", "C2", "C3"]


def test_reference_sessions_that_only_touch_stay_apart(hand_files: tuple[Path, Path, Path]) -> None:
    # gap 55 min: A1's window [T0+10m, T0+65m) ends exactly where A3 (T0+65m) starts
    answer = hand_expected(hand_files, window="sessions", gap_s=55 * 60)
    c1 = [r for r in answer.results if r["customer_id"] == "C1" and r["category"] == "__all__"]
    assert [(r["window_start_ms"], r["orders"]) for r in c1] == [
        (START_MS + 10 * MINUTE_MS, 1), (START_MS + 65 * MINUTE_MS, 1)]


def test_reference_top_n_ties_break_by_product_id(tmp_path: Path) -> None:
    (tmp_path / "catalog.csv").write_text(HAND_CATALOG)
    (tmp_path / "fx.csv").write_text(HAND_FX)
    lines = [  # all in window 0; P2 and P1 both 5.00 USD, P3 1.00
        '{"order_id":"T1","customer_id":"C1","product_id":"P2","quantity":1,"unit_price":5,'
        '"currency":"USD","event_time":1793577600000}',
        '{"order_id":"T2","customer_id":"C1","product_id":"P1","quantity":2,"unit_price":"2.50",'
        '"currency":"USD","event_time":1793577600001}',
        '{"order_id":"T3","customer_id":"C2","product_id":"P3","quantity":1,"unit_price":1,'
        '"currency":"USD","event_time":1793577600002}',
    ]
    (tmp_path / "o.jsonl").write_text("\n".join(lines))  # no final newline
    answer = expected([tmp_path / "o.jsonl"], tmp_path / "catalog.csv", tmp_path / "fx.csv", top_n=2)
    assert [(r["rank"], r["product_id"], r["revenue_usd"]) for r in answer.top_products] == [
        (1, "P1", Decimal("5.00")), (2, "P2", Decimal("5.00"))]


def test_reference_csv_positions_and_dedupe_across_files(tmp_path: Path) -> None:
    (tmp_path / "catalog.csv").write_text(HAND_CATALOG)
    (tmp_path / "fx.csv").write_text(HAND_FX)
    header = ",".join(FIELDS)
    (tmp_path / "b.csv").write_text(
        f"{header}\n"
        "B1,C1,P1,1,2.50,USD,2026-11-02T00:05:00Z,US\n"  # line 2: valid
        "B2,C1,P1,1,2.50,USD,2026-11-02T00:05:00Z\n"  # line 3: 7 fields: malformed
        'B3,"C\n2",P2,2,1.00,EUR,1793577600000,\n'  # lines 4-5: valid, country empty
        "B4,C3,P1,,1.00,USD,1793577600000,\n"  # line 6: missing_field:quantity
        "B1,C1,P1,1,2.50,USD,2026-11-02T00:05:00Z,US\n"  # line 7: duplicate of line 2
    )
    # a.jsonl sorts before b.csv, so its copy of B3 survives and both CSV B3 and B1 (line 7) are duplicates
    (tmp_path / "a.jsonl").write_text(
        '{"order_id":"B3","customer_id":"C9","product_id":"P2","quantity":4,"unit_price":"1.00",'
        '"currency":"USD","event_time":1793577600000}\n')
    answer = expected([tmp_path / "b.csv", tmp_path / "a.jsonl"],
                      tmp_path / "catalog.csv", tmp_path / "fx.csv")
    source = str(tmp_path / "b.csv")
    assert answer.dead_letters == [("malformed", source, 3), ("missing_field:quantity", source, 6)]
    # read 6 = valid 2 (B1 from b.csv line 2, B3 from a.jsonl) + duplicates 2 + dead letters 2
    assert {k: answer.counts[k] for k in ("read", "valid", "duplicates", "dead_letters")} == {
        "read": 6, "valid": 2, "duplicates": 2, "dead_letters": 2}
    b3 = next(o for o in answer.orders if o.order_id == "B3")
    assert (b3.customer_id, b3.quantity, b3.position) == ("C9", 4, 1)
    # window 0: B1 books 2.50, B3 toys 4 x 1.00 = 4.00; all 6.50
    assert [(r["category"], r["revenue_usd"]) for r in answer.results] == [
        ("__all__", Decimal("6.50")), ("books", Decimal("2.50")), ("toys", Decimal("4.00"))]


FX = load_fx(str(FX_RATES))
BASE = {"order_id": "O1", "customer_id": "C1", "product_id": "P0001", "quantity": 1,
        "unit_price": "9.99", "currency": "USD", "event_time": "2026-11-02T00:00:00Z"}


@pytest.mark.parametrize("change, reason", [
    ({"quantity": " 7 "}, None),
    ({"quantity": "+3"}, None),
    ({"quantity": 10000}, None),
    ({"quantity": True}, "bad_type:quantity"),
    ({"quantity": Decimal("3.0")}, "bad_type:quantity"),  # a JSON float
    ({"quantity": -1}, "out_of_range:quantity"),
    ({"unit_price": Decimal("1E+2")}, None),
    ({"unit_price": "1000000"}, None),
    ({"unit_price": "1000000.001"}, "out_of_range:unit_price"),
    ({"unit_price": "sNaN"}, "bad_type:unit_price"),
    ({"unit_price": float("inf")}, "bad_type:unit_price"),
    ({"currency": " jpy "}, None),
    ({"order_id": "  "}, "missing_field:order_id"),
    ({"order_id": True}, "bad_type:order_id"),
    ({"customer_id": None, "quantity": "x"}, "missing_field:customer_id"),  # first failing rule wins
    ({"quantity": 0, "currency": "XYZ"}, "out_of_range:quantity"),
    ({"event_time": "1793577600000"}, None),
    ({"event_time": 253370764799999}, None),  # 9998-12-31T23:59:59.999Z
    ({"event_time": 253370764800000}, "bad_time"),
    ({"event_time": "2026-11-02T00:00:00+05:30"}, None),
    ({"event_time": Decimal("1793577600000.0")}, "bad_time"),
    ({"event_time": False}, "bad_time"),
    ({"country": " gb "}, None),
    ({"country": ""}, None),
    ({"country": "G1"}, "bad_type:country"),
    ({"country": 44}, "bad_type:country"),
    ({"extra": [1, 2]}, None),
])
def test_reference_validation_rules(change: dict[str, Any], reason: str | None) -> None:
    payload = {**BASE, **change}
    if reason is None:
        validate(payload, FX)
    else:
        with pytest.raises(Invalid) as failure:
            validate(payload, FX)
        assert failure.value.reason == reason


def test_reference_aggregates_agree_with_duckdb(sample: Expected) -> None:
    """Second opinion on windows, enrichment, sums and rounding over the sample's survivors."""
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.execute("CREATE TABLE o (customer_id VARCHAR, product_id VARCHAR, quantity BIGINT,"
                " unit_price VARCHAR, currency VARCHAR, event_ms BIGINT)")
    con.executemany("INSERT INTO o VALUES (?, ?, ?, ?, ?, ?)", [
        (o.customer_id, o.product_id, o.quantity, str(o.unit_price), o.currency, o.event_ms)
        for o in sample.orders])
    con.execute("CREATE TABLE fx AS SELECT currency, usd_per_unit::VARCHAR AS rate"
                f" FROM read_csv('{FX_RATES}', all_varchar = true)")
    con.execute(f"CREATE TABLE cat AS SELECT * FROM read_csv('{CATALOG}', all_varchar = true)")
    rows = con.execute("""
        WITH x AS (
            SELECT o.customer_id, o.quantity, coalesce(cat.category, 'unknown') AS category,
                   o.event_ms - o.event_ms % 3600000 AS ws,
                   o.quantity * o.unit_price::DECIMAL(18, 4) * fx.rate::DECIMAL(18, 8) AS rev
            FROM o JOIN fx USING (currency) LEFT JOIN cat USING (product_id))
        SELECT ws, category, count(*), sum(quantity), round(sum(rev), 2), count(DISTINCT customer_id),
               sum(rev)::DOUBLE / count(*)
        FROM x GROUP BY ALL
        UNION ALL
        SELECT ws, '__all__', count(*), sum(quantity), round(sum(rev), 2), count(DISTINCT customer_id),
               sum(rev)::DOUBLE / count(*)
        FROM x GROUP BY ALL
        ORDER BY 1, 2""").fetchall()
    assert len(rows) == len(sample.results)
    for got, want in zip(rows, sample.results):
        assert got[:6] == (want["window_start_ms"], want["category"], want["orders"], want["units"],
                           want["revenue_usd"], want["distinct_customers"])
        assert abs(Decimal(str(got[6])) - want["avg_order_value_usd"]) <= Decimal("0.005000001")

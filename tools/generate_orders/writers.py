"""Serialisation: writes events to a file as JSON Lines, CSV, Avro or Parquet,
optionally gzip-compressed with a reproducible header, either given events
(write_events) or freshly generated ones (write_orders); the same arguments
and seed give a byte-identical file."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import random
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional, Union

from tools.generate_orders.records import (
    FIELDS, SCHEMA_PATH, Event, check_format, csv_values, infer_format, to_text,
)
from tools.generate_orders.stream import iter_events


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

    # The schema as written in the file: fastavro's parsed form embeds its
    # keys in an order that follows the process's string hashing.
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
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
    check_format(fmt)
    with _open_output(Path(path), gzip_output) as fh:
        return _WRITERS[fmt](fh, events, seed)

"""The order record the generator writes and the files it goes into: the
schema's field names, the output formats and the file extensions that name
them, the Avro schema file, and the text form of a value in the text formats
(CSV cells, Parquet strings). Every other module of the generator builds on
these."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "transforms" / "schema" / "order.avsc"

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


def check_format(fmt: str) -> None:
    """Raise ValueError unless ``fmt`` is one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def infer_format(path: Union[str, Path]) -> tuple[str, bool]:
    """(format, gzip) from a file name such as ``orders.csv.gz``."""
    name = Path(path).name.lower()
    compressed = name.endswith(".gz")
    suffix = Path(name[:-3] if compressed else name).suffix
    if suffix not in _EXTENSIONS:
        raise ValueError(f"cannot infer the format of {path}; pass fmt/--format")
    return _EXTENSIONS[suffix], compressed


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

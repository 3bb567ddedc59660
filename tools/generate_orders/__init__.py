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

The package, one job a module: ``records`` (fields, formats, text forms),
``world`` (catalog, FX rates and the other reference tables), ``factory`` (the
valid base events, event-time helpers), ``dirty`` (the dirty variants),
``stream`` (:func:`iter_events`), ``writers`` (the file formats,
:func:`write_orders`) and ``cli`` (the command line).
"""

from tools.generate_orders.cli import main, parse_planted_pairs
from tools.generate_orders.dirty import Corrupt, DirtyVariant, dirty_variants
from tools.generate_orders.factory import PLANTED_SHARE, format_iso, parse_start
from tools.generate_orders.records import (
    FIELDS, FORMATS, REPO_ROOT, REQUIRED_FIELDS, SCHEMA_PATH, Event, csv_values, infer_format,
    to_text,
)
from tools.generate_orders.stream import DEFAULT_START, generate_events, iter_events
from tools.generate_orders.world import DEFAULT_CATALOG, DEFAULT_FX_RATES
from tools.generate_orders.writers import write_events, write_orders

__all__ = [
    "DEFAULT_CATALOG", "DEFAULT_FX_RATES", "DEFAULT_START", "FIELDS", "FORMATS", "PLANTED_SHARE",
    "REPO_ROOT", "REQUIRED_FIELDS", "SCHEMA_PATH", "Corrupt", "DirtyVariant", "Event",
    "csv_values", "dirty_variants", "format_iso", "generate_events", "infer_format",
    "iter_events", "main", "parse_planted_pairs", "parse_start", "to_text", "write_events",
    "write_orders",
]

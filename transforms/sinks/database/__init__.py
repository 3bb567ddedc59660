"""Idempotent database sinks: the tables and the upsert rules they share.

``WriteToSQLite`` (transforms/sinks/sqlite_sink.py) and ``WriteToPostgres``
(transforms/sinks/postgres_sink.py) are thin: a store (how to connect, which
SQL types, how to retry) plus this module (which tables, which keys, which
row wins). DESIGN.md, Semantics 7: replays, retries and restarts converge to
the same table, and an older pane never overwrites a newer one.

Tables (created if missing)
---------------------------

Types: ``time`` is ``timestamptz`` in PostgreSQL and ISO-8601 UTC text in
SQLite (``2026-11-02T13:00:00Z``, with ``.mmm`` milliseconds only when they
are not zero, so text order is time order except within one second); ``money`` is ``NUMERIC(20,2)`` in PostgreSQL and, in SQLite,
TEXT holding the exact two-decimal string (``'1234.50'``; cast it with
``CAST(revenue_usd AS REAL)`` for arithmetic that may lose cents). Money is
rounded to cents ROUND_HALF_UP when written, never before. Booleans are
``boolean`` in PostgreSQL and 0/1 in SQLite.

``sales_by_category`` -- one row per window, scope and category
  (``category = '__all__'`` is the all-categories total):
    window_start time, window_end time, customer_id text ('' unless
    per-customer sessions), day text (local YYYY-MM-DD of window_start in
    --timezone), category text, rank int (by revenue within the window;
    NULL for ``__all__``), orders bigint, units bigint,
    revenue_usd money, distinct_customers bigint, avg_order_value_usd money,
    pane_timing text (EARLY/ON_TIME/LATE), pane_index int, is_final bool,
    updated_at time
  PRIMARY KEY (window_start, window_end, customer_id, category)

``top_products`` -- the top-N products by revenue of each window:
    window_start, window_end, customer_id, day, rank int (1 = highest revenue),
    product_id, product_name, category, orders, units, revenue_usd money,
    pane_timing, pane_index, is_final, updated_at
  PRIMARY KEY (window_start, window_end, customer_id, rank)
  All rows of one window come from one pane: a newer pane replaces the
  window's whole list (ranks it no longer has are deleted).

``dead_letters`` -- records that could not become orders:
    source text, partition bigint (-1 for files and Pub/Sub, which have
    none), position bigint, reason text, detail text, payload text,
    updated_at time
  PRIMARY KEY (source, partition, position)

``pipeline_runs`` -- one row per run of a pipeline that wrote here:
    run_id text PRIMARY KEY, started_at time, updated_at time, status text
    ('running' while writing; the launcher sets 'succeeded' / 'failed' with
    ``finish_run``), results_written, top_products_written,
    dead_letters_written bigint (rows inserted or changed by this run; a
    replayed, unchanged row counts 0), counts (jsonb / JSON text: the run's
    read/valid/dead-letter/duplicate counts, set by ``finish_run``)

Which row wins
--------------

A pane is ranked by ``(generation, pane_index, is_final)``: a higher pane
index is newer; at the same index a final pane beats a non-final one. The
generation is 0 for ordinary runs; a recovery run (``--recover``, which
replays the source and recomputes every window from scratch) writes with a
higher one, so its panes replace those of the run it recovers. A row is
replaced only by a strictly newer pane, so

* an older pane arriving late (retry, replay, out-of-order writers) is a
  no-op, and so is a replay of the same pane: running the same input twice
  leaves every table identical, ``updated_at`` included (it is the wall-clock
  time the row last changed, not the time it was last written);
* with the default accumulating panes the table always holds the newest
  state of every window. (Discarding panes are deltas: an upsert keyed by
  window cannot sum them; use accumulating panes with database sinks.)
* pane indexes restart at 0 when a streaming job is started afresh without
  its state (not from a savepoint/snapshot), and a re-run with corrected
  input has the same pane indexes as the run it corrects: neither replaces
  rows already written. Delete the affected windows (or use a new database)
  before re-stating them.

Dead letters are keyed by where the record was read, so re-reading the same
input never duplicates them; a record whose reason or payload changed (a
fixed parser) is updated in place.

Reading the latest numbers (PostgreSQL; in SQLite the same query works,
but sort money with ``CAST(revenue_usd AS REAL)``: it is text there)::

    SELECT window_start, window_end, category, orders, units, revenue_usd,
           distinct_customers, avg_order_value_usd, pane_timing, is_final
    FROM sales_by_category
    WHERE customer_id = '' AND window_start =
          (SELECT max(window_start) FROM sales_by_category
           WHERE customer_id = '')
    ORDER BY category <> '__all__', revenue_usd DESC, category;

Modules (one job each)
----------------------

* ``tables``  -- table names, columns (logical types), keys, defaults
* ``dialect`` -- ``Dialect``: what differs between databases (types,
  parameters, value forms, locks) and the CREATE TABLE statements
* ``params``  -- rows -> SQL parameters: row keys, pane ranks, clean text
* ``upsert``  -- which row wins: the upsert SQL, the per-bundle ``Buffer``
  and ``write_buffer``
* ``runs``    -- the ``pipeline_runs`` records
* ``store``   -- ``Store``: one connection, transactions, retries with
  backoff; ``SinkError``
* ``write``   -- the Beam side: ``WriteToDatabase`` and its DoFn (batched
  per bundle, written in key order)

Import from this package; the names below are its public API.
"""
from transforms.sinks.database.dialect import Dialect
from transforms.sinks.database.params import (category_key, category_params,
                                              clean_text, dead_letter_key,
                                              dead_letter_params, pane_rank,
                                              top_product_params, window_key,
                                              window_params)
from transforms.sinks.database.runs import (new_run_id, run_finish_sql,
                                            run_progress_sql, run_start_sql)
from transforms.sinks.database.store import (Backoff, SinkError, Store,
                                             backoff_delays, sleep)
from transforms.sinks.database.tables import (CATEGORY_TABLE, DEAD_LETTER_TABLE,
                                              DEAD_LETTERS, KINDS, NO_PARTITION,
                                              PRIMARY_KEYS, RESULTS, RUNS_TABLE,
                                              TABLE_COLUMNS, TOP_PRODUCTS,
                                              TOP_TABLE)
from transforms.sinks.database.upsert import (Buffer, category_upsert_sql,
                                              dead_letter_upsert_sql,
                                              top_current_pane_sql,
                                              top_delete_sql, top_insert_sql,
                                              write_buffer)
from transforms.sinks.database.write import WriteToDatabase

__all__ = [
    # tables
    'RESULTS', 'TOP_PRODUCTS', 'DEAD_LETTERS', 'KINDS', 'CATEGORY_TABLE',
    'TOP_TABLE', 'DEAD_LETTER_TABLE', 'RUNS_TABLE', 'NO_PARTITION',
    'TABLE_COLUMNS', 'PRIMARY_KEYS',
    # the two per-database interfaces
    'Backoff', 'Dialect', 'Store', 'SinkError', 'backoff_delays', 'sleep',
    # rows -> parameters
    'pane_rank', 'window_key', 'category_key', 'dead_letter_key',
    'clean_text', 'window_params', 'category_params', 'top_product_params',
    'dead_letter_params',
    # upserts and run records
    'category_upsert_sql', 'dead_letter_upsert_sql', 'top_current_pane_sql',
    'top_delete_sql', 'top_insert_sql', 'Buffer', 'write_buffer',
    'new_run_id', 'run_start_sql', 'run_progress_sql', 'run_finish_sql',
    # Beam
    'WriteToDatabase',
]

"""The batch job in DuckDB: one SQL statement parses every line once,
validates it (first failing rule wins) and keeps the reason; then the first
of each order id, HUGEINT revenue, and the aggregates per window and
category (+ `__all__`), with checks that keep DuckDB's lenient time parsing
honest."""
from __future__ import annotations

from typing import Dict

from benchmarks.references.contract import (
    FIELDS, ID_FIELDS, ISO_RE, MAX_EPOCH_MS, PRICE_EXACT_RE, PRICE_RE,
    PRICE_SCALE, Unsupported, canonical)
from benchmarks.references.inputs import arrow_lines, load_catalog, load_rates


def run_duckdb(path: str, catalog_path: str, fx_path: str,
               size_s: int) -> Dict:
  import duckdb
  rates = load_rates(fx_path)
  catalog = load_catalog(catalog_path)
  con = duckdb.connect()
  con.execute('CREATE TABLE rates(code VARCHAR, rate HUGEINT)')
  con.executemany('INSERT INTO rates VALUES (?, ?)', list(rates.items()))
  con.execute('CREATE TABLE catalog(pid VARCHAR, category VARCHAR)')
  con.executemany('INSERT INTO catalog VALUES (?, ?)', list(catalog.items()))

  # One parse per line: all fields at once, then small per-field values.
  def ty(f):
    return f"json_type(vals[{FIELDS.index(f) + 1}])"

  def tx(f):
    return f"json_extract_string(vals[{FIELDS.index(f) + 1}], '$')"

  def missing(f):
    return (f"({ty(f)} IS NULL OR {ty(f)} = 'NULL' OR ({ty(f)} = 'VARCHAR' "
            f"AND regexp_matches({tx(f)}, '^\\s*$')))")

  def trim(f):
    return f"trim({tx(f)}, ' \t\n\r' || chr(11) || chr(12))"

  int_types = "('BIGINT', 'UBIGINT')"
  paths = '[' + ', '.join(f"'$.{f}'" for f in FIELDS) + ']'
  sql = f"""
  WITH lines AS (SELECT pos, line FROM lines_arrow),
  rows AS (
    SELECT pos, j, CASE WHEN j IS NOT NULL THEN json_extract(j, {paths})
                   END AS vals
    FROM (SELECT pos, line, CASE WHEN json_valid(line) AND
                 json_type(line) = 'OBJECT' THEN line::JSON END AS j
          FROM lines)
    WHERE NOT regexp_matches(line, '^[ \t\r' || chr(11) || chr(12) || ']*$')),
  f AS (
    SELECT pos, j, vals,
      CASE WHEN {ty('quantity')} IN {int_types}
             THEN TRY_CAST({tx('quantity')} AS HUGEINT)
           WHEN {ty('quantity')} = 'VARCHAR'
                AND regexp_matches({trim('quantity')}, '^[+-]?[0-9]+$')
             THEN TRY_CAST({trim('quantity')} AS HUGEINT) END AS qty,
      CASE WHEN {ty('unit_price')} IN ('BIGINT', 'UBIGINT', 'DOUBLE',
                                        'VARCHAR')
           THEN {trim('unit_price')} END AS ptxt,
      upper({trim('currency')}) AS cur,
      CASE WHEN {ty('event_time')} IN {int_types}
             THEN TRY_CAST({tx('event_time')} AS HUGEINT)
           WHEN {ty('event_time')} = 'VARCHAR'
                AND regexp_matches({trim('event_time')}, '^[0-9]+$')
             THEN TRY_CAST({trim('event_time')} AS HUGEINT) END AS et_int,
      CASE WHEN {ty('event_time')} = 'VARCHAR'
                AND regexp_matches({trim('event_time')}, '{ISO_RE}')
             THEN epoch_ms(TRY_CAST(replace({trim('event_time')}, 'Z',
                                            '+00:00') AS TIMESTAMPTZ))
           END AS iso_ms,
      {trim('country')} AS ctry
    FROM rows),
  g AS (
    SELECT f.*, rates.rate,
      CASE WHEN regexp_matches(ptxt, '{PRICE_EXACT_RE}')
           THEN CAST(ptxt AS DECIMAL(38, 6)) END AS price,
      CASE WHEN et_int IS NOT NULL
             THEN CASE WHEN et_int BETWEEN 0 AND {MAX_EPOCH_MS}
                       THEN et_int END
           ELSE iso_ms END AS event_ms
    FROM f LEFT JOIN rates ON rates.code = f.cur),
  r AS (
    SELECT g.*, CASE
      WHEN j IS NULL THEN 'malformed'
      {''.join(f"WHEN {missing(x)} THEN 'missing_field:{x}' "
               f"WHEN {ty(x)} <> 'VARCHAR' THEN 'bad_type:{x}' "
               for x in ID_FIELDS)}
      WHEN {missing('quantity')} THEN 'missing_field:quantity'
      WHEN qty IS NULL THEN 'bad_type:quantity'
      WHEN qty NOT BETWEEN 1 AND 10000 THEN 'out_of_range:quantity'
      WHEN {missing('unit_price')} THEN 'missing_field:unit_price'
      WHEN ptxt IS NULL OR NOT regexp_matches(ptxt, '{PRICE_RE}')
        THEN 'bad_type:unit_price'
      WHEN price IS NULL THEN 'unsupported'
      WHEN price <= 0 OR price > 1000000 THEN 'out_of_range:unit_price'
      WHEN {missing('currency')} THEN 'missing_field:currency'
      WHEN {ty('currency')} <> 'VARCHAR' THEN 'bad_type:currency'
      WHEN rate IS NULL THEN 'unknown_currency'
      WHEN {missing('event_time')} THEN 'missing_field:event_time'
      WHEN event_ms IS NULL THEN 'bad_time'
      WHEN NOT ({ty('country')} IS NULL OR {ty('country')} = 'NULL' OR
                ({ty('country')} = 'VARCHAR' AND
                 regexp_matches(ctry, '^([A-Za-z]{{2}})?$')))
        THEN 'bad_type:country'
      END AS reason
    FROM g)
  SELECT * FROM r
  """
  con.register('lines_arrow', arrow_lines(path))
  con.execute(f'CREATE TABLE checked AS {sql}')
  # ISO times with seconds = 60 or hour 24 are rejected by Python but may be
  # normalised by DuckDB: keep DuckDB honest about them.
  bad = con.execute(f"""SELECT count(*) FROM checked WHERE iso_ms IS NOT NULL
      AND regexp_matches({trim('event_time')},
        '^.{{11}}(2[4-9]|[3-9][0-9])|^.{{17}}(6[0-9]|[7-9][0-9])')""").fetchone()
  if bad[0]:
    raise Unsupported('ISO time with out-of-range hour/second')
  if con.execute("SELECT count(*) FROM checked WHERE reason = 'unsupported'"
                 ).fetchone()[0]:
    raise Unsupported('price beyond the reference limits')
  con.execute(f"""
  CREATE TABLE valid AS
  SELECT pos, {trim('order_id')} AS oid, {trim('customer_id')} AS cid,
         {trim('product_id')} AS pid, qty, event_ms,
         qty * CAST(price * {10 ** PRICE_SCALE} AS HUGEINT) * rate AS rev
  FROM checked WHERE reason IS NULL""")
  con.execute("""
  CREATE TABLE firsts AS
  SELECT * FROM valid QUALIFY row_number() OVER (PARTITION BY oid
                                                 ORDER BY pos) = 1""")
  rows = con.execute(f"""
  SELECT event_ms - (event_ms % {size_s * 1000}) AS w,
         coalesce(category, 'unknown') AS cat, count(*) AS orders,
         sum(qty) AS units, sum(rev) AS rev, count(DISTINCT cid) AS customers
  FROM firsts LEFT JOIN catalog USING (pid)
  GROUP BY w, cat
  UNION ALL
  SELECT event_ms - (event_ms % {size_s * 1000}) AS w, '__all__', count(*),
         sum(qty), sum(rev), count(DISTINCT cid)
  FROM firsts GROUP BY w""").fetchall()
  counts = dict(con.execute(
      'SELECT reason, count(*) FROM checked WHERE reason IS NOT NULL '
      'GROUP BY reason').fetchall())
  read = con.execute('SELECT count(*) FROM checked').fetchone()[0]
  nvalid = con.execute('SELECT count(*) FROM valid').fetchone()[0]
  nfirst = con.execute('SELECT count(*) FROM firsts').fetchone()[0]
  counts.update(read=read, valid=nfirst, duplicates=nvalid - nfirst)
  return canonical(counts, rows)

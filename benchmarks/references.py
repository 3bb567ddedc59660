"""Reference implementations of the batch job in DuckDB, polars and pandas.

`python -m benchmarks.references --impl duckdb|polars|pandas --input F
 --out result.json [--catalog C --fx_rates X --window_size_seconds 3600]`

The job (docs/semantics.md, fixed windows, JSON Lines input): parse, validate
(first failing rule wins, dead letters counted per reason), dedupe (first
seen by line), revenue in USD (exact), join the catalog, aggregate per fixed
window and category (+ `__all__`): orders, units, revenue (rounded to cents
half-up only at the end), distinct customers.

Each implementation writes the same canonical JSON (see `canonical`), which
the benchmark compares with the pipeline's output.

Reference limitations (inputs outside them raise `Unsupported`, they are
never silently wrong): prices with more than 6 decimals or written with an
exponent; ISO times beyond `YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]](Z|+HH:MM)`;
duplicate keys in one JSON object (DuckDB). The generator produces none.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, List, Tuple

FIELDS = ('order_id', 'customer_id', 'product_id', 'quantity', 'unit_price',
          'currency', 'event_time', 'country')
ID_FIELDS = FIELDS[:3]
MAX_EPOCH_MS = 253370764799999  # 9998-12-31T23:59:59.999Z (docs/semantics.md)
PRICE_SCALE = 6
RATE_SCALE = 8
REV_SCALE = PRICE_SCALE + RATE_SCALE
CENT = Decimal('0.01')
ISO_RE = (r'^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})'
          r'(:([0-9]{2})(\.([0-9]{1,6}))?)?(Z|[+-][0-9]{2}:[0-9]{2})$')
PRICE_RE = r'^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$'
PRICE_EXACT_RE = r'^[+-]?([0-9]+(\.[0-9]{0,6})?|\.[0-9]{1,6})$'
NONFINITE_RE = r'^[+-]?(?i:nan|snan|inf|infinity)$'


def _NOGROUP(pattern: str) -> str:  # pylint: disable=invalid-name
  return pattern.replace('(', '(?:').replace('(?:?', '(?')


class Unsupported(ValueError):
  """An input outside the reference's documented limits."""


def load_rates(path: str) -> Dict[str, int]:
  """currency -> rate scaled by 10**RATE_SCALE (exact)."""
  out = {}
  with open(path, newline='', encoding='utf-8') as f:
    for row in csv.DictReader(f):
      rate = Decimal(row['usd_per_unit'].strip()).scaleb(RATE_SCALE)
      if rate != rate.to_integral_value():
        raise Unsupported('FX rate with more than 8 decimals')
      out[row['currency'].strip().upper()] = int(rate)
  return out


def load_catalog(path: str) -> Dict[str, str]:
  with open(path, newline='', encoding='utf-8') as f:
    return {row['product_id'].strip(): (row['category'] or '').strip()
            or 'unknown' for row in csv.DictReader(f)}


def cents(scaled_sum: int) -> str:
  return str((Decimal(scaled_sum).scaleb(-REV_SCALE)).quantize(
      CENT, rounding=ROUND_HALF_UP))


def canonical(counts: Dict[str, int],
              rows: List[Tuple[int, str, int, int, int, int]]) -> Dict:
  """rows: (window_start_ms, category, orders, units, revenue scaled int,
  distinct customers) -> the comparable JSON document."""
  counts = dict(counts)
  counts['dead_letters'] = sum(
      n for k, n in counts.items()
      if k not in ('read', 'valid', 'duplicates', 'dead_letters'))
  return {
      'counts': dict(sorted(counts.items())),
      'rows': sorted([int(w), c, int(o), int(u), cents(int(r)), int(d)]
                     for w, c, o, u, r, d in rows),
  }


def read_lines(path: str) -> List[Tuple[int, bytes]]:
  with open(path, 'rb') as f:
    data = f.read()
  out = []
  for number, line in enumerate(data.split(b'\n'), start=1):
    if line.strip():
      out.append((number, line))
  return out


# --- Python decode (pandas and polars) --------------------------------------

def decode_fields(path: str) -> Dict[str, List[Any]]:
  """Per line: position, malformed flag, and per field a type tag and text.

  Tags: absent, null, str, int, float, bool, other. Text: the string, or the
  number as Python prints it (str(int), repr(float)), else None.
  """
  cols: Dict[str, List[Any]] = {'pos': [], 'malformed': []}
  for f in FIELDS:
    cols[f + '_t'] = []
    cols[f + '_v'] = []
  loads = json.loads
  for number, line in read_lines(path):
    try:
      obj = loads(line.decode('utf-8'))
    except (ValueError, RecursionError):
      obj = None
    cols['pos'].append(number)
    is_obj = isinstance(obj, dict)
    cols['malformed'].append(not is_obj)
    for f in FIELDS:
      v = obj.get(f, _ABSENT) if is_obj else _ABSENT
      if v is _ABSENT:
        tag, text = 'absent', None
      elif v is None:
        tag, text = 'null', None
      elif isinstance(v, bool):
        tag, text = 'bool', None
      elif isinstance(v, str):
        tag, text = 'str', v
      elif isinstance(v, int):
        tag, text = 'int', str(v)
      elif isinstance(v, float):
        tag, text = 'float', repr(v)
      else:
        tag, text = 'other', None
      cols[f + '_t'].append(tag)
      cols[f + '_v'].append(text)
  return cols


_ABSENT = object()


def _days_from_civil(y, m, d):
  y = y - (m <= 2)
  era = y // 400
  yoe = y - era * 400
  mp = (m + 9) % 12
  doy = (153 * mp + 2) // 5 + d - 1
  doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468


# --- polars -------------------------------------------------------------------

def run_polars(path: str, catalog_path: str, fx_path: str,
               size_s: int) -> Dict:
  import polars as pl
  rates = load_rates(fx_path)
  catalog = load_catalog(catalog_path)
  df = pl.DataFrame(decode_fields(path))
  read = df.height
  ws = r'^\s*$'

  def missing(f):
    t, v = pl.col(f + '_t'), pl.col(f + '_v')
    return t.is_in(['absent', 'null']) | (
        (t == 'str') & v.str.contains(ws).fill_null(False))

  def trimmed(f):
    return pl.col(f + '_v').str.strip_chars()

  qty_txt = trimmed('quantity')
  qty = (pl.when(pl.col('quantity_t') == 'int').then(
      pl.col('quantity_v').cast(pl.Int64, strict=False))
         .when((pl.col('quantity_t') == 'str') &
               qty_txt.str.contains(r'^[+-]?[0-9]+$'))
         .then(qty_txt.cast(pl.Int64, strict=False)).otherwise(None))
  price_txt = trimmed('unit_price')
  price_ok_type = pl.col('unit_price_t').is_in(['int', 'float', 'str'])
  price_num = price_ok_type & price_txt.str.contains(PRICE_RE)
  price_exact = price_txt.str.contains(PRICE_EXACT_RE)
  price = price_txt.str.replace(r'^\+', '').cast(
      pl.Decimal(38, PRICE_SCALE), strict=False)
  cur = trimmed('currency').str.to_uppercase()
  et_txt = trimmed('event_time')
  et_digits = et_txt.str.contains(r'^[0-9]+$')
  iso = et_txt.str.extract_groups(ISO_RE)
  ctry = trimmed('country')

  df = df.with_columns(
      qty=qty, price_num=price_num, price_exact=price_exact, price=price,
      cur=cur, rate=cur.replace_strict(rates, default=None,
                                       return_dtype=pl.Int64),
      et_int=pl.when(pl.col('event_time_t') == 'int').then(
          pl.col('event_time_v').cast(pl.Int64, strict=False))
      .when((pl.col('event_time_t') == 'str') & et_digits)
      .then(et_txt.cast(pl.Int64, strict=False)).otherwise(None),
      iso=pl.when((pl.col('event_time_t') == 'str') & ~et_digits)
      .then(iso).otherwise(None))
  g = [pl.col('iso').struct.field(str(i)).cast(pl.Int64, strict=False)
       for i in range(1, 12)]
  year, month, day, hour, minute = g[0], g[1], g[2], g[3], g[4]
  second = g[6].fill_null(0)
  frac = pl.col('iso').struct.field('9').str.pad_end(6, '0').str.slice(
      0, 3).cast(pl.Int64, strict=False).fill_null(0)
  off = pl.col('iso').struct.field('10')
  off_sign = pl.when(off.str.starts_with('-')).then(-1).otherwise(1)
  off_h = off.str.slice(1, 2).cast(pl.Int64, strict=False).fill_null(0)
  off_m = off.str.slice(4, 2).cast(pl.Int64, strict=False).fill_null(0)
  df = df.with_columns(
      iso_date=pl.concat_str([g[0].cast(pl.String).str.zfill(4), pl.lit('-'),
                              g[1].cast(pl.String).str.zfill(2), pl.lit('-'),
                              g[2].cast(pl.String).str.zfill(2)])
      .str.to_date('%Y-%m-%d', strict=False))
  iso_ok = (pl.col('iso_date').is_not_null() & (hour <= 23) &
            (minute <= 59) & (second <= 59) & (off_h <= 23) & (off_m <= 59))
  iso_ms = (pl.col('iso_date').cast(pl.Int64) * 86_400_000 +
            hour * 3_600_000 + minute * 60_000 + second * 1000 + frac -
            off_sign * (off_h * 3_600_000 + off_m * 60_000))
  df = df.with_columns(
      event_ms=pl.when(pl.col('et_int').is_not_null()).then(
          pl.when((pl.col('et_int') >= 0) & (pl.col('et_int') <= MAX_EPOCH_MS))
          .then(pl.col('et_int')).otherwise(None))
      .when(iso_ok).then(iso_ms).otherwise(None))

  reason = pl.when(pl.col('malformed')).then(pl.lit('malformed'))
  for f in ID_FIELDS:
    reason = reason.when(missing(f)).then(pl.lit(f'missing_field:{f}'))
    reason = reason.when(pl.col(f + '_t') != 'str').then(
        pl.lit(f'bad_type:{f}'))
  reason = (
      reason.when(missing('quantity')).then(pl.lit('missing_field:quantity'))
      .when(pl.col('qty').is_null()).then(pl.lit('bad_type:quantity'))
      .when((pl.col('qty') < 1) | (pl.col('qty') > 10000))
      .then(pl.lit('out_of_range:quantity'))
      .when(missing('unit_price')).then(pl.lit('missing_field:unit_price'))
      .when(~pl.col('price_num')).then(pl.lit('bad_type:unit_price'))
      .when(~pl.col('price_exact')).then(pl.lit('unsupported'))
      .when((pl.col('price') <= 0) | (pl.col('price') > 1000000))
      .then(pl.lit('out_of_range:unit_price'))
      .when(missing('currency')).then(pl.lit('missing_field:currency'))
      .when(pl.col('currency_t') != 'str').then(pl.lit('bad_type:currency'))
      .when(pl.col('rate').is_null()).then(pl.lit('unknown_currency'))
      .when(missing('event_time')).then(pl.lit('missing_field:event_time'))
      .when(pl.col('event_ms').is_null()).then(pl.lit('bad_time'))
      .when(~(pl.col('country_t').is_in(['absent', 'null']) | (
          (pl.col('country_t') == 'str') &
          (ctry.str.contains(r'^$') | ctry.str.contains(r'^[A-Za-z]{2}$')))))
      .then(pl.lit('bad_type:country'))
      .otherwise(None))
  df = df.with_columns(reason=reason)
  if (df['reason'] == 'unsupported').any():
    raise Unsupported('price beyond the reference limits')
  dead = df.filter(pl.col('reason').is_not_null()).group_by('reason').len()
  valid = df.filter(pl.col('reason').is_null()).select(
      'pos', oid=trimmed('order_id'), cid=trimmed('customer_id'),
      pid=trimmed('product_id'), qty='qty', event_ms='event_ms',
      rev=(pl.col('qty').cast(pl.Int128) *
           (pl.col('price') * 10 ** PRICE_SCALE).cast(pl.Int128) *
           pl.col('rate').cast(pl.Int128)))
  first = valid.sort('pos').unique('oid', keep='first', maintain_order=True)
  first = first.with_columns(
      window=pl.col('event_ms') - pl.col('event_ms') % (size_s * 1000),
      category=pl.col('pid').replace_strict(catalog, default='unknown',
                                            return_dtype=pl.String))
  aggs = [pl.len().alias('orders'), pl.col('qty').sum().alias('units'),
          pl.col('rev').sum().alias('rev'),
          pl.col('cid').n_unique().alias('customers')]
  per_cat = first.group_by('window', 'category').agg(aggs)
  total = first.group_by('window').agg(aggs).with_columns(
      category=pl.lit('__all__'))
  out = pl.concat([per_cat, total.select(per_cat.columns)])
  counts = {'read': read, 'valid': first.height,
            'duplicates': valid.height - first.height}
  counts.update({r: n for r, n in dead.iter_rows()})
  return canonical(counts, out.select(
      'window', 'category', 'orders', 'units', 'rev', 'customers').rows())


# --- pandas -------------------------------------------------------------------

def run_pandas(path: str, catalog_path: str, fx_path: str,
               size_s: int) -> Dict:
  import numpy as np
  import pandas as pd
  rates = load_rates(fx_path)
  catalog = load_catalog(catalog_path)
  df = pd.DataFrame(decode_fields(path))
  read = len(df)

  def t(f):
    return df[f + '_t']

  def v(f):
    return df[f + '_v'].astype(object)

  def trimmed(f):
    return v(f).where(t(f) == 'str').str.strip()

  def missing(f):
    return t(f).isin(['absent', 'null']) | ((t(f) == 'str') & (
        trimmed(f).fillna('x') == ''))

  reason = pd.Series(None, index=df.index, dtype=object)

  def fail(mask, why):
    nonlocal reason
    reason = reason.mask(reason.isna() & mask.fillna(False).astype(bool), why)

  fail(df['malformed'], 'malformed')
  for f in ID_FIELDS:
    fail(missing(f), f'missing_field:{f}')
    fail(t(f) != 'str', f'bad_type:{f}')
  qtxt = v('quantity').where(t('quantity').isin(['int', 'str'])).str.strip()
  qok = qtxt.str.fullmatch(r'[+-]?[0-9]+').fillna(False).astype(bool)
  qty = pd.to_numeric(qtxt.where(qok), errors='coerce')
  fail(missing('quantity'), 'missing_field:quantity')
  fail(~qok, 'bad_type:quantity')
  fail((qty < 1) | (qty > 10000), 'out_of_range:quantity')
  ptxt = v('unit_price').where(
      t('unit_price').isin(['int', 'float', 'str'])).str.strip()
  pnum = ptxt.str.contains(_NOGROUP(PRICE_RE), regex=True).fillna(False).astype(bool)
  pexact = ptxt.str.contains(_NOGROUP(PRICE_EXACT_RE), regex=True).fillna(
      False).astype(bool)
  fail(missing('unit_price'), 'missing_field:unit_price')
  fail(~pnum, 'bad_type:unit_price')
  fail(~pexact, 'unsupported')
  # exact price in 10**-6 units, via integer and fraction digits
  parts = ptxt.where(pexact).str.lstrip('+-').str.split('.', n=1,
                                                       expand=True)
  if parts.shape[1] == 1:
    parts[1] = None
  ip = pd.to_numeric(parts[0].replace('', '0'), errors='coerce')
  fp = pd.to_numeric(parts[1].fillna('').str.ljust(6, '0').replace('', '0'),
                     errors='coerce')
  neg = ptxt.str.startswith('-').fillna(False).astype(bool)
  price_s = (ip * 10 ** PRICE_SCALE + fp) * np.where(neg, -1, 1)
  fail((price_s <= 0) | (price_s > 10 ** 12), 'out_of_range:unit_price')
  cur = trimmed('currency').str.upper()
  rate = cur.map(rates)
  fail(missing('currency'), 'missing_field:currency')
  fail(t('currency') != 'str', 'bad_type:currency')
  fail(rate.isna(), 'unknown_currency')
  etxt = v('event_time').where(t('event_time').isin(['int', 'str'])
                               ).str.strip()
  digits = etxt.str.fullmatch(r'[0-9]+').fillna(False).astype(bool) | (
      t('event_time') == 'int')
  ep = pd.to_numeric(etxt.where(digits), errors='coerce')
  ep = ep.where((ep >= 0) & (ep <= MAX_EPOCH_MS))
  iso = etxt.where(~digits & (t('event_time') == 'str')).str.extract(ISO_RE)
  g = {i: pd.to_numeric(iso[i], errors='coerce') for i in (0, 1, 2, 3, 4, 6)}
  frac = pd.to_numeric(iso[8].fillna('').str.ljust(6, '0').str[:3]
                       .replace('', '0'), errors='coerce')
  off = iso[9]
  osign = np.where(off.str.startswith('-').fillna(False).astype(bool), -1, 1)
  oh = pd.to_numeric(off.str[1:3], errors='coerce').fillna(0)
  om = pd.to_numeric(off.str[4:6], errors='coerce').fillna(0)
  date = pd.to_datetime(iso[0] + '-' + iso[1] + '-' + iso[2],
                        format='%Y-%m-%d', errors='coerce')
  sec = g[6].fillna(0)
  iso_ok = date.notna() & (g[3] <= 23) & (g[4] <= 59) & (sec <= 59) & (
      oh <= 23) & (om <= 59)
  days = (date - pd.Timestamp('1970-01-01')).dt.days
  iso_ms = (days * 86_400_000 + g[3] * 3_600_000 + g[4] * 60_000 +
            sec * 1000 + frac - osign * (oh * 3_600_000 + om * 60_000))
  event_ms = ep.where(digits, iso_ms.where(iso_ok))
  fail(missing('event_time'), 'missing_field:event_time')
  fail(event_ms.isna(), 'bad_time')
  ctxt = trimmed('country')
  cok = t('country').isin(['absent', 'null']) | ((t('country') == 'str') & (
      ctxt.str.fullmatch(r'([A-Za-z]{2})?').fillna(False).astype(bool)))
  fail(~cok, 'bad_type:country')
  if (reason == 'unsupported').any():
    raise Unsupported('price beyond the reference limits')

  ok = reason.isna()
  valid = pd.DataFrame({
      'pos': df['pos'][ok], 'oid': trimmed('order_id')[ok],
      'cid': trimmed('customer_id')[ok], 'pid': trimmed('product_id')[ok],
      'qty': qty[ok].astype('int64'), 'event_ms': event_ms[ok].astype('int64'),
      'amount': (qty[ok].astype('int64') * price_s[ok].astype('int64')),
      'cur': cur[ok]})
  first = valid.sort_values('pos').drop_duplicates('oid', keep='first')
  first = first.assign(
      window=first['event_ms'] - first['event_ms'] % (size_s * 1000),
      category=first['pid'].map(catalog).fillna('unknown'))
  rows = []
  # exact revenue: per (window, category, currency) integer sums, then rates
  sums = first.groupby(['window', 'category', 'cur'])['amount'].sum()
  rev: Dict[Tuple[int, str], int] = {}
  for (w, c, cu), amount in sums.items():
    rev[(w, c)] = rev.get((w, c), 0) + int(amount) * rates[cu]
    rev[(w, '__all__')] = rev.get((w, '__all__'), 0) + int(amount) * rates[cu]
  per_cat = first.groupby(['window', 'category']).agg(
      orders=('oid', 'size'), units=('qty', 'sum'),
      customers=('cid', 'nunique'))
  total = first.groupby('window').agg(
      orders=('oid', 'size'), units=('qty', 'sum'),
      customers=('cid', 'nunique'))
  for (w, c), r in per_cat.iterrows():
    rows.append((w, c, r['orders'], r['units'], rev[(w, c)], r['customers']))
  for w, r in total.iterrows():
    rows.append((w, '__all__', r['orders'], r['units'], rev[(w, '__all__')],
                 r['customers']))
  counts = {'read': read, 'valid': len(first),
            'duplicates': len(valid) - len(first)}
  counts.update({k: int(n) for k, n in reason.value_counts().items()})
  return canonical(counts, rows)


def arrow_lines(path: str):
  """(pos, line) of every line of a file as an Arrow table (numpy split;
  the lines are views of one buffer, without their newline)."""
  import numpy as np
  import pyarrow as pa
  import pyarrow.compute as pc
  with open(path, 'rb') as f:
    data = f.read()
  nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
  starts = np.concatenate([[0], nl + 1])
  if len(data) and data.endswith(b'\n'):
    starts = starts[:-1]
  offsets = np.append(starts, len(data)).astype(np.int64)
  lines = pa.Array.from_buffers(pa.large_binary(), len(starts),
                                [None, pa.py_buffer(offsets),
                                 pa.py_buffer(data)])
  text = pc.replace_substring_regex(pc.cast(lines, pa.large_string()),
                                    '\n$', '')
  return pa.table({'pos': np.arange(1, len(starts) + 1), 'line': text})


# --- DuckDB -------------------------------------------------------------------

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


IMPLS = {'duckdb': run_duckdb, 'polars': run_polars, 'pandas': run_pandas}


def main(argv=None) -> int:
  from pipelines.options import DEFAULT_CATALOG, DEFAULT_FX_RATES
  parser = argparse.ArgumentParser(prog='python -m benchmarks.references')
  parser.add_argument('--impl', choices=sorted(IMPLS), required=True)
  parser.add_argument('--input', required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--catalog', default=DEFAULT_CATALOG)
  parser.add_argument('--fx_rates', default=DEFAULT_FX_RATES)
  parser.add_argument('--window_size_seconds', type=int, default=3600)
  args = parser.parse_args(argv)
  began = time.perf_counter()
  result = IMPLS[args.impl](args.input, args.catalog, args.fx_rates,
                            args.window_size_seconds)
  result['seconds_inside'] = time.perf_counter() - began
  with open(args.out, 'w', encoding='utf-8') as f:
    json.dump(result, f)
  return 0


if __name__ == '__main__':
  sys.exit(main())

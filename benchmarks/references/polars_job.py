"""The batch job in polars: validation as one chain of when/then rules per
line (first failing rule wins), dedupe by first position, exact revenue as
Int128, aggregation per window and category (+ `__all__`)."""
from __future__ import annotations

from typing import Dict

from benchmarks.references.contract import (
    ID_FIELDS, ISO_RE, MAX_EPOCH_MS, PRICE_EXACT_RE, PRICE_RE, PRICE_SCALE,
    Unsupported, canonical)
from benchmarks.references.inputs import decode_fields, load_catalog, load_rates


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

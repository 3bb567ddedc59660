"""The batch job in pandas: validation as successive masks (the first
failing rule sets the reason), exact prices from their integer and fraction
digits, dedupe by first position, revenue summed per currency in integers
and converted once, aggregation per window and category (+ `__all__`)."""
from __future__ import annotations

from typing import Dict, Tuple

from benchmarks.references.contract import (
    ID_FIELDS, ISO_RE, MAX_EPOCH_MS, PRICE_EXACT_RE, PRICE_RE, PRICE_SCALE,
    Unsupported, canonical)
from benchmarks.references.inputs import decode_fields, load_catalog, load_rates


def _NOGROUP(pattern: str) -> str:  # pylint: disable=invalid-name
  return pattern.replace('(', '(?:').replace('(?:?', '(?')


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

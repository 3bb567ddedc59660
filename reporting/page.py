"""The report's HTML: one self-contained page (inline CSS and SVG, no
script, nothing fetched), every chart next to the table of its numbers.

Every value from the data (categories, product names, dead-letter payloads:
arbitrary input) is HTML-escaped.
"""
from __future__ import annotations

import dataclasses
import decimal
import html
import zoneinfo
from typing import Any, Dict, Iterable, List, Optional, Sequence

from reporting import charts
from reporting.days import day_of
from reporting.figures import (MAX_ANOMALIES, category_share, day_totals,
                               flagged_anomalies, revenue_by_day,
                               segment_rows, top_by_window, top_pairs,
                               window_totals)
from reporting.tables import Tables
from transforms.event_time import format_utc_ms
from transforms.sinks.mined import ANOMALIES, PRODUCT_PAIRS, SEGMENT_SUMMARY

__all__ = ['ReportContext', 'MAX_TOP_WINDOWS', 'render', 'money']

# Top-product lists shown (newest windows first); the rest are in the tables.
MAX_TOP_WINDOWS = 240

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1100px;
 color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;
 border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555} .meta dt{font-weight:600;float:left;width:120px}
.meta dd{margin:0 0 2px 130px}
.kpis{display:flex;gap:16px;flex-wrap:wrap;margin:16px 0}
.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:140px}
.kpi b{display:block;font-size:20px}
figure.chart{margin:8px 0;display:inline-block;vertical-align:top}
figure.chart svg{max-width:100%;height:auto}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left}
td:first-child{white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
details{margin:4px 0} summary{cursor:pointer}
#dead-letter-examples td:last-child{font:12px monospace;word-break:break-all}
#dead-letter-examples{table-layout:fixed;width:100%}
.bad{color:#b30000;font-weight:600} .ok{color:#106b21;font-weight:600}
"""


@dataclasses.dataclass(frozen=True)
class ReportContext:
  """What the report states about its run."""
  inputs: Sequence[str]
  timezone: str
  window: str
  started_utc: str
  duration_s: float
  status: str
  counts: Dict[str, Any]


def money(value: Any) -> str:
  return f'${decimal.Decimal(value):,.2f}'


def _e(value: Any) -> str:
  return html.escape(str(value), quote=True)


def _table(table_id: str, headers: Sequence[str], rows: Iterable[Sequence],
           numeric: Sequence[int] = (), cls: str = '') -> str:
  head = ''.join(f'<th class="n">{_e(h)}</th>' if i in numeric else
                 f'<th>{_e(h)}</th>' for i, h in enumerate(headers))
  body = []
  for row in rows:
    cells = ''.join(f'<td class="n">{_e(v)}</td>' if i in numeric else
                    f'<td>{_e(v)}</td>' for i, v in enumerate(row))
    body.append(f'<tr>{cells}</tr>')
  ident = f' id="{table_id}"' if table_id else ''
  klass = f' class="{cls}"' if cls else ''
  return (f'<table{ident}{klass}><thead><tr>{head}</tr></thead><tbody>'
          f'{"".join(body)}</tbody></table>')


def _chart(chart_id: str, svg: str) -> str:
  return f'<figure class="chart" id="{chart_id}">{svg}</figure>'


def _header(ctx: ReportContext, tables: Tables) -> str:
  items = [('input', ', '.join(ctx.inputs)), ('time zone', ctx.timezone),
           ('window', ctx.window), ('run', f'{ctx.started_utc}, '
                                    f'{ctx.duration_s:.1f} s, {ctx.status}'),
           ('tables', tables.where)]
  meta = ''.join(f'<dt>{_e(k)}</dt><dd>{_e(v)}</dd>' for k, v in items)
  return f'<h1>Sales report</h1><dl class="meta" id="run">{meta}</dl>'


def _kpis(days) -> str:
  revenue = sum((d.revenue for d in days), decimal.Decimal('0.00'))
  orders = sum(d.orders for d in days)
  items = [('revenue', money(revenue)), ('orders', f'{orders:,}'),
           ('days', str(len(days)))]
  return '<div class="kpis" id="kpis">' + ''.join(
      f'<div class="kpi">{_e(k)}<b>{_e(v)}</b></div>' for k, v in items
  ) + '</div>'


def _revenue_section(tables: Tables, tz: zoneinfo.ZoneInfo, shares,
                     days) -> str:
  by_day = revenue_by_day(tables.results, tz)
  categories = [c for c, _, _ in shares]
  # The total is the tables' own all-categories row, not a sum of rounded
  # category cents: the same figure as the day totals below.
  totals = {d.day: d.revenue for d in days}
  rows = [[day] + [money(cats.get(c, 0)) for c in categories] +
          [money(totals.get(day, 0))] for day, cats in by_day.items()]
  numeric = range(1, len(categories) + 2)
  share_rows = [[c, money(v), f'{s:.1%}'] for c, v, s in shares]
  return (
      '<h2>Revenue per day by category</h2>' +
      _chart('chart-revenue-by-day',
             charts.revenue_by_day_chart(by_day, categories)) +
      _table('revenue-by-day', ['day'] + categories + ['total'], rows,
             numeric) +
      '<h2>Category share</h2>' +
      _chart('chart-category-share', charts.share_chart(shares, categories)) +
      _table('category-share', ['category', 'revenue', 'share'], share_rows,
             (1, 2)))


def _orders_section(tables: Tables, days) -> str:
  windows = window_totals(tables.results)
  rows = [[d.day, d.orders, money(d.revenue), money(d.average)] for d in days]
  return (
      '<h2>Orders and average order value over time</h2>' +
      _chart('chart-orders', charts.orders_chart(windows, days)) +
      _table('day-totals', ['day', 'orders', 'revenue', 'average order value'],
             rows, (1, 2, 3)))


def _top_section(tables: Tables, tz: zoneinfo.ZoneInfo) -> str:
  groups = top_by_window(tables.top_products)
  shown, rest = groups[:MAX_TOP_WINDOWS], len(groups) - MAX_TOP_WINDOWS
  by_day: Dict[str, List] = {}
  for (start, end), rows in shown:
    day = day_of(rows[0], tz)
    by_day.setdefault(day, []).extend(
        [format_utc_ms(start), format_utc_ms(end), r['rank'], r['product_id'],
         r['product_name'], r['category'], r['orders'], r['units'],
         money(r['revenue_usd'])] for r in rows)
  parts = ['<h2>Top products</h2><p>Per window, as in the top_products '
           'table; newest first.</p>']
  for i, (day, rows) in enumerate(by_day.items()):
    parts.append(f'<details{" open" if i == 0 else ""}><summary>{_e(day)} '
                 f'({len(rows)} rows)</summary>')
    parts.append(_table('', ['window start', 'window end', 'rank', 'product',
                             'name', 'category', 'orders', 'units',
                             'revenue'], rows, (2, 6, 7, 8),
                        cls='top-products'))
    parts.append('</details>')
  if rest > 0:
    parts.append(f'<p>{rest} older windows are not shown.</p>')
  return ''.join(parts)


def _segments_section(rows: List[Dict[str, Any]]) -> str:
  segments = segment_rows(rows)
  table = [[s['segment'], s['label'], s['customers'],
            f"{s['mean_recency_days']:.2f}", f"{s['mean_frequency']:.2f}",
            money(s['mean_monetary_usd'])] for s in segments]
  chart = (_chart('chart-segments', charts.segment_chart(segments))
           if segments else '<p>No customers.</p>')
  return (
      '<h2>Customer segments</h2><p>Customers clustered on recency (days '
      'from their last order to the run\'s last), frequency (orders) and '
      'money (USD); as in the segment_summary table.</p>' + chart +
      _table('segment-summary', ['segment', 'label', 'customers',
                                 'mean recency (days)', 'mean frequency',
                                 'mean money'], table, (0, 2, 3, 4, 5)))


def _pairs_section(rows: List[Dict[str, Any]]) -> str:
  window, pairs = top_pairs(rows)
  if window is None:
    return '<h2>Bought together</h2><p>No pair reached the support.</p>'
  table = [[p['product_id'], p['partner_id'], p['baskets'],
            f"{p['support']:.4f}", f"{p['confidence']:.3f}",
            f"{p['lift']:.2f}"] for p in pairs]
  return (
      f'<h2>Bought together</h2><p>The {len(pairs)} pairs of highest lift '
      f'in baskets (a customer\'s session) from {_e(format_utc_ms(window[0]))}'
      f' to {_e(format_utc_ms(window[1]))}, each pair once (confidence: '
      f'product &rarr; partner); all of them are in the product_pairs '
      f'table.</p>' +
      _table('product-pairs', ['product', 'partner', 'baskets together',
                               'support', 'confidence', 'lift'], table,
             (2, 3, 4, 5)))


def _anomaly_value(metric: str, value: float) -> str:
  return money(value) if metric.endswith('_usd') else f'{value:,.0f}'


def _anomalies_section(rows: List[Dict[str, Any]]) -> str:
  flagged = flagged_anomalies(rows)
  shown, rest = flagged[:MAX_ANOMALIES], len(flagged) - MAX_ANOMALIES
  table = [[format_utc_ms(a['window_start']), format_utc_ms(a['window_end']),
            a['category'], a['metric'],
            _anomaly_value(a['metric'], a['value']),
            '' if a['score'] is None else f"{a['score']:.2f}",
            '' if a['threshold'] is None else f"{a['threshold']:g}",
            a['detector']] for a in shown]
  more = f'<p>{rest} older flagged windows are not shown.</p>' if rest > 0 \
      else ''
  return (
      f'<h2>Anomalies</h2><p>{len(flagged)} of {len(rows)} scored windows '
      f'flagged, newest first.</p>' +
      _table('anomalies', ['window start', 'window end', 'category', 'metric',
                           'value', 'score', 'threshold', 'detector'], table,
             (4, 5, 6)) + more)


def _mined_sections(tables: Tables) -> List[str]:
  """A section per mined table the run wrote, none for the others."""
  sections = ((SEGMENT_SUMMARY, _segments_section),
              (PRODUCT_PAIRS, _pairs_section), (ANOMALIES, _anomalies_section))
  return [section(tables.mined[kind]) for kind, section in sections
          if kind in tables.mined]


def _quality_section(tables: Tables, counts: Dict[str, Any]) -> str:
  by_reason = dict(counts.get('dead_letters') or tables.dead_letters.by_reason)
  reconciles = counts.get('reconciles')
  figures = [('records read', counts.get('records_read', '')),
             ('valid orders', counts.get('valid', '')),
             ('duplicates', counts.get('duplicates', '')),
             ('late (dead)', counts.get('late', 0)),
             ('dead letters', sum(by_reason.values()))]
  verdict = ('<p class="ok">Every record read is accounted for.</p>'
             if reconciles else '<p class="bad">The counts do not reconcile: '
             'read != valid + dead letters + duplicates + late.</p>')
  examples = [[e['reason'], e['source'],
               '' if e['partition'] is None else e['partition'],
               e['position'], e['detail'], e['payload']]
              for e in tables.dead_letters.examples]
  chart = (_chart('chart-dead-letters', charts.dead_letter_chart(by_reason))
           if by_reason else '<p>No dead letters.</p>')
  return (
      '<h2>Data quality</h2>' +
      _table('quality', ['count', 'value'], figures, (1,)) + verdict + chart +
      _table('dead-letters-by-reason', ['reason', 'dead letters'],
             sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])), (1,)) +
      '<h3>Examples</h3>' +
      _table('dead-letter-examples', ['reason', 'source', 'partition',
                                      'position', 'detail', 'payload'],
             examples, (2, 3)))


def render(tables: Tables, ctx: ReportContext,
           tz: Optional[zoneinfo.ZoneInfo] = None) -> str:
  """The whole page."""
  tz = tz or zoneinfo.ZoneInfo(ctx.timezone)
  shares = category_share(tables.results)
  days = day_totals(tables.results, tz)
  body = [_header(ctx, tables)]
  if tables.empty:
    body.append('<p class="bad">The run wrote no result rows.</p>')
  else:
    body += [_kpis(days), _revenue_section(tables, tz, shares, days),
             _orders_section(tables, days), _top_section(tables, tz)]
  body += _mined_sections(tables)
  body.append(_quality_section(tables, ctx.counts))
  return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
          '<title>Sales report</title>'
          '<meta name="viewport" content="width=device-width">'
          f'<style>{CSS}</style></head><body>{"".join(body)}</body></html>')

"""The report's charts: matplotlib figures rendered to inline SVG.

Text is drawn as paths (``svg.fonttype: path``), so the SVG needs no font
and no network to show the same everywhere. Each function takes figures
from reporting/figures.py and returns an ``<svg>`` element as text.
"""
from __future__ import annotations

import datetime
import decimal
import io
from typing import Any, Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from reporting.figures import DayTotal, WindowTotal  # noqa: E402

__all__ = ['dead_letter_chart', 'orders_chart', 'revenue_by_day_chart',
           'segment_chart', 'share_chart']

STYLE = {'svg.fonttype': 'path', 'font.size': 9, 'axes.spines.top': False,
         'axes.spines.right': False, 'figure.dpi': 96}
PALETTE = plt.get_cmap('tab20').colors
DOLLARS = FuncFormatter(lambda v, _: f'${v:,.0f}')


def _svg(fig) -> str:
  buffer = io.StringIO()
  fig.savefig(buffer, format='svg', bbox_inches='tight')
  plt.close(fig)
  text = buffer.getvalue()
  return text[text.index('<svg'):]


def _colors(categories: Sequence[str]) -> Dict[str, Tuple]:
  return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}


def revenue_by_day_chart(by_day: Dict[str, Dict[str, decimal.Decimal]],
                         categories: List[str]) -> str:
  """Stacked bars: one per day, one colour per category."""
  with plt.rc_context(STYLE):
    fig, ax = plt.subplots(figsize=(8, 3.6))
    days = list(by_day)
    bottom = [0.0] * len(days)
    colors = _colors(categories)
    for category in categories:
      values = [float(by_day[d].get(category, 0)) for d in days]
      ax.bar(days, values, bottom=bottom, label=category,
             color=colors[category])
      bottom = [b + v for b, v in zip(bottom, values)]
    ax.yaxis.set_major_formatter(DOLLARS)
    ax.set_ylabel('revenue (USD)')
    ax.legend(ncol=2, fontsize=8, frameon=False, bbox_to_anchor=(1.01, 1),
              loc='upper left')
    if len(days) > 10:
      ax.tick_params(axis='x', labelrotation=45)
    return _svg(fig)


def share_chart(shares: Sequence[Tuple[str, decimal.Decimal, float]],
                categories: List[str]) -> str:
  """A donut of each category's share of revenue."""
  with plt.rc_context(STYLE):
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    colors = _colors(categories)
    ax.pie([float(v) for _, v, _ in shares],
           labels=[f'{c} {s:.0%}' if s >= 0.03 else '' for c, _, s in shares],
           colors=[colors[c] for c, _, _ in shares], startangle=90,
           counterclock=False, wedgeprops={'width': 0.45})
    ax.set_aspect('equal')
    return _svg(fig)


def orders_chart(windows: Sequence[WindowTotal],
                 days: Sequence[DayTotal]) -> str:
  """Orders (bars) and average order value (line) per window, or per day
  when there are no global windows (sessions)."""
  if windows:
    xs = [datetime.datetime.fromtimestamp(w.start / 1000,
                                          datetime.timezone.utc)
          for w in windows]
    orders = [w.orders for w in windows]
    averages = [float(w.average) for w in windows]
    width = (windows[0].end - windows[0].start) / 86_400_000 * 0.8
  else:
    xs = [d.day for d in days]
    orders = [d.orders for d in days]
    averages = [float(d.average) for d in days]
    width = 0.8
  with plt.rc_context(STYLE):
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(xs, orders, width=width, color='#9ecae1', label='orders',
           align='edge' if windows else 'center')
    ax.set_ylabel('orders')
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    right = ax.twinx()
    right.plot(xs, averages, color='#d62728', marker='.', linewidth=1.2,
               label='average order value')
    right.yaxis.set_major_formatter(DOLLARS)
    right.set_ylabel('average order value (USD)')
    right.spines['right'].set_visible(True)
    fig.legend(loc='upper left', frameon=False, ncol=2, fontsize=8)
    if windows:
      fig.autofmt_xdate()
    return _svg(fig)


def dead_letter_chart(by_reason: Dict[str, int]) -> str:
  """Horizontal bars: dead letters per reason, most first."""
  ranked = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
  with plt.rc_context(STYLE):
    height = 0.6 + 0.22 * max(len(ranked), 1)
    fig, ax = plt.subplots(figsize=(6, height))
    ax.barh([r for r, _ in ranked][::-1], [n for _, n in ranked][::-1],
            color='#fd8d3c')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('dead letters')
    return _svg(fig)


def segment_chart(segments: Sequence[Dict[str, Any]]) -> str:
  """One bubble per customer segment: mean recency (x) against mean money
  (y), its area the segment's customers, labelled with number and label."""
  with plt.rc_context(STYLE):
    fig, ax = plt.subplots(figsize=(7, 3.6))
    most = max([int(s['customers']) for s in segments] + [1])
    for i, seg in enumerate(segments):
      x = float(seg['mean_recency_days'])
      y = float(seg['mean_monetary_usd'])
      size = 60 + 1400 * int(seg['customers']) / most  # points squared
      ax.scatter([x], [y], s=size, color=PALETTE[(2 * i) % len(PALETTE)],
                 alpha=0.75, edgecolors='#333', linewidths=0.5)
      ax.annotate(f"{seg['segment']} {seg['label']} ({seg['customers']})",
                  (x, y), textcoords='offset points',
                  xytext=(0, size ** 0.5 / 2 + 3), ha='center', fontsize=8)
    ax.yaxis.set_major_formatter(DOLLARS)
    ax.set_xlabel('mean recency (days since last order)')
    ax.set_ylabel('mean money per customer (USD)')
    ax.margins(0.18)
    return _svg(fig)

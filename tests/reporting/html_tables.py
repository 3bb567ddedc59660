"""The tables of an HTML page as lists of rows of text (stdlib parser), so
tests read the figures a person sees."""
from __future__ import annotations

import decimal
from html.parser import HTMLParser
from typing import Dict, List


class _Tables(HTMLParser):

  def __init__(self) -> None:
    super().__init__()
    self.by_id: Dict[str, List[List[str]]] = {}
    self.by_class: Dict[str, List[List[str]]] = {}
    self._table = None
    self._row = None
    self._cell = None

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    if tag == 'table':
      self._table = {'id': attrs.get('id'), 'cls': attrs.get('class'),
                     'rows': []}
    elif tag == 'tr' and self._table is not None:
      self._row = []
    elif tag in ('td', 'th') and self._row is not None:
      self._cell = []

  def handle_data(self, data):
    if self._cell is not None:
      self._cell.append(data)

  def handle_endtag(self, tag):
    if tag in ('td', 'th') and self._cell is not None:
      self._row.append(''.join(self._cell).strip())
      self._cell = None
    elif tag == 'tr' and self._row is not None:
      self._table['rows'].append(self._row)
      self._row = None
    elif tag == 'table' and self._table is not None:
      t = self._table
      if t['id']:
        self.by_id[t['id']] = t['rows']
      if t['cls']:
        self.by_class.setdefault(t['cls'], []).extend(t['rows'][1:])
      self._table = None


def html_tables(text: str) -> _Tables:
  """.by_id[id] = rows (header first); .by_class[cls] = body rows of every
  table of that class."""
  parser = _Tables()
  parser.feed(text)
  return parser


def amount(text: str) -> decimal.Decimal:
  """'$1,234.56' -> Decimal('1234.56')."""
  return decimal.Decimal(text.replace('$', '').replace(',', ''))

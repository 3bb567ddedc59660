"""BigQuery sink: results, top products and dead letters as three tables.

    {'results': ..., 'top_products': ..., 'dead_letters': ...} \\
        | WriteToBigQueryTables.from_url('bigquery:my-project:sales')

``--sink bigquery:PROJECT:DATASET`` writes, with Beam's ``WriteToBigQuery``:

* ``PROJECT:DATASET.sales_by_category``  (schema of sales_by_category.parquet)
* ``PROJECT:DATASET.top_products``       (schema of top_products.parquet)
* ``PROJECT:DATASET.dead_letters``
* each mined kind given (transforms/sinks/mined.py): ``PROJECT:DATASET.<table>``
  with its declared columns (time TIMESTAMP, money NUMERIC, float FLOAT64)

Tables are created if needed (CREATE_IF_NEEDED), partitioned by day of
``window_start`` (dead letters: by ingestion day) and appended to
(WRITE_APPEND). Method: Beam's default, i.e. load jobs through
``--temp_location`` (gs://...) in a bounded run and streaming inserts in a
streaming run; ``method='STORAGE_WRITE_API'`` is a Java cross-language
transform and is not used.

BigQuery is append-only here: a streaming run appends every pane (EARLY,
ON_TIME, LATE) of a window. The current answer is the row with the highest
``pane_index`` per key; README.md has the view that selects it::

    SELECT * EXCEPT(rn) FROM (
      SELECT *, ROW_NUMBER() OVER (
        PARTITION BY window_start, window_end, customer_id, category
        ORDER BY pane_index DESC) AS rn
      FROM `PROJECT.DATASET.sales_by_category`) WHERE rn = 1

Types: times are TIMESTAMP (UTC), money is NUMERIC rounded to cents
(sent as the exact decimal string), counts INT64, flags BOOL: the Parquet
schemas of transforms/sinks/files.py, column for column.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

import apache_beam as beam

from transforms.sinks.mined import MINED_TABLES, json_row
from transforms.sinks.rows import (DEAD_LETTERS, RESULTS, TABLE_NAMES,
                                   TOP_PRODUCTS, dead_letter_dict, json_ready)

RESULTS_TABLE = TABLE_NAMES[RESULTS]
TOP_PRODUCTS_TABLE = TABLE_NAMES[TOP_PRODUCTS]
DEAD_LETTERS_TABLE = TABLE_NAMES[DEAD_LETTERS]

def _fields(spec: str) -> List[Tuple[str, str, str]]:
  """'name TYPE, ...' -> [(name, TYPE, mode)]; a TYPE ending in '!' is
  REQUIRED, else NULLABLE."""
  out = []
  for column in spec.split(','):
    name, kind = column.split()
    out.append((name, kind.rstrip('!'),
                'REQUIRED' if kind.endswith('!') else 'NULLABLE'))
  return out


_WINDOW = ('window_start TIMESTAMP!, window_end TIMESTAMP!, '
           'customer_id STRING, day STRING')
_PANE = 'pane_timing STRING, pane_index INT64, is_final BOOL'
RESULTS_FIELDS = _fields(
    f'{_WINDOW}, category STRING, rank INT64, orders INT64, units INT64, '
    f'revenue_usd NUMERIC, distinct_customers INT64, '
    f'avg_order_value_usd NUMERIC, {_PANE}')
TOP_PRODUCTS_FIELDS = _fields(
    f'{_WINDOW}, rank INT64, product_id STRING, product_name STRING, '
    f'category STRING, orders INT64, units INT64, revenue_usd NUMERIC, '
    f'{_PANE}')
DEAD_LETTERS_FIELDS = _fields(
    'reason STRING!, detail STRING, payload STRING, source STRING, '
    'partition INT64, position INT64')

_BQ_TYPES = {'time': 'TIMESTAMP', 'text': 'STRING', 'bigint': 'INT64',
             'float': 'FLOAT64', 'money': 'NUMERIC', 'bool': 'BOOL'}


def mined_fields(kind: str) -> List[Tuple[str, str, str]]:
  """A mined table's fields; its key columns are REQUIRED."""
  spec = MINED_TABLES[kind]
  return [(name, _BQ_TYPES[logical],
           'REQUIRED' if name in spec.key else 'NULLABLE')
          for name, logical in spec.types.items()]


_ID = re.compile(r'^[A-Za-z0-9_.:-]+$')


def table_schema(fields: List[Tuple[str, str, str]]) -> Dict[str, Any]:
  """A WriteToBigQuery schema dict: {'fields': [{name, type, mode}]}."""
  return {'fields': [{'name': n, 'type': t, 'mode': m} for n, t, m in fields]}


def parse_bigquery_url(url: str) -> Tuple[str, str]:
  """``bigquery:PROJECT:DATASET`` -> (project, dataset)."""
  text = (url or '').strip()
  if not text.lower().startswith('bigquery:'):
    raise ValueError(f'not a BigQuery sink: {url!r}')
  rest = text[len('bigquery:'):].lstrip('/')
  parts = rest.split(':')
  if len(parts) != 2 or not all(parts) or not all(
      _ID.match(p) for p in parts):
    raise ValueError(
        f'bad BigQuery sink {url!r}: use bigquery:PROJECT:DATASET')
  return parts[0], parts[1]


def bq_row(row) -> Dict[str, Any]:
  """A result/top-product row with BigQuery JSON values.

  TIMESTAMP as ISO-8601 UTC, NUMERIC as the exact cents string.
  """
  out = json_ready(row)
  out.pop('window_start_ms')
  out.pop('window_end_ms')
  return out


class WriteToBigQueryTables(beam.PTransform):
  """{'results', 'top_products', 'dead_letters'} -> three BigQuery tables."""

  def __init__(self, project: str, dataset: str, **write_kwargs: Any) -> None:
    super().__init__()
    self.project = project
    self.dataset = dataset
    self._write_kwargs = write_kwargs

  @classmethod
  def from_url(cls, url: str, **write_kwargs: Any) -> 'WriteToBigQueryTables':
    project, dataset = parse_bigquery_url(url)
    return cls(project, dataset, **write_kwargs)

  def table(self, name: str) -> str:
    return f'{self.project}:{self.dataset}.{name}'

  def _write(self, name: str, fields, partition_field=None):
    from apache_beam.io.gcp.bigquery import BigQueryDisposition
    from apache_beam.io.gcp.bigquery_tools import FileFormat
    extra: Dict[str, Any] = {
        'timePartitioning': ({'type': 'DAY', 'field': partition_field}
                             if partition_field else {'type': 'DAY'})
    }
    kwargs = dict(
        table=self.table(name),
        schema=table_schema(fields),
        create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
        write_disposition=BigQueryDisposition.WRITE_APPEND,
        additional_bq_parameters=extra,
        # Load jobs (bounded runs) read JSON files: the same values as
        # streaming inserts (ISO times, NUMERIC strings).
        temp_file_format=FileFormat.JSON)
    kwargs.update(self._write_kwargs)
    return beam.io.WriteToBigQuery(**kwargs)

  def expand(self, outputs: Dict[str, beam.PCollection]) -> None:
    if RESULTS in outputs:
      _ = (outputs[RESULTS]
           | 'ResultsToBigQueryRows' >> beam.Map(bq_row)
           | 'WriteResultsTable' >> self._write(
               RESULTS_TABLE, RESULTS_FIELDS, 'window_start'))
    if TOP_PRODUCTS in outputs:
      _ = (outputs[TOP_PRODUCTS]
           | 'TopProductsToBigQueryRows' >> beam.Map(bq_row)
           | 'WriteTopProductsTable' >> self._write(
               TOP_PRODUCTS_TABLE, TOP_PRODUCTS_FIELDS, 'window_start'))
    if DEAD_LETTERS in outputs:
      _ = (outputs[DEAD_LETTERS]
           | 'DeadLettersToBigQueryRows' >> beam.Map(dead_letter_dict)
           | 'WriteDeadLettersTable' >> self._write(
               DEAD_LETTERS_TABLE, DEAD_LETTERS_FIELDS))
    for kind, spec in MINED_TABLES.items():
      if kind in outputs:
        step = ''.join(p.title() for p in kind.split('_'))
        partition = 'window_start' if 'window_start' in spec.names else None
        _ = (outputs[kind]
             | f'{step}ToBigQueryRows' >> beam.Map(
                 lambda r, k=kind: json_row(k, r))
             | f'Write{step}Table' >> self._write(
                 spec.table, mined_fields(kind), partition))

"""A run's counts: the runner's counters read into a RunSummary, and the
summary the CLI prints at the end of a run.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Dict, List

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipelines.options import SalesConfig
from transforms import metrics
from transforms.lateness import LATE_REASON
from transforms.windowing import SLIDING, WindowPolicy

_LOG = logging.getLogger('pipeline')


@dataclasses.dataclass
class RunSummary:
  """The counts a run reports; every record read is accounted for."""
  records_read: int = 0
  valid: int = 0
  duplicates: int = 0
  dead_letters: Dict[str, int] = dataclasses.field(default_factory=dict)
  late: int = 0
  windows: int = 0
  result_rows: int = 0
  state: str = ''
  # False when the runner could not report counters (e.g. gone after Ctrl-C)
  counted: bool = False
  as_of: str = ''

  @property
  def dead_letter_total(self) -> int:
    return sum(self.dead_letters.values())

  def reconciles(self) -> bool:
    return self.records_read == (self.valid + self.dead_letter_total +
                                 self.duplicates + self.late)

  def as_dict(self) -> Dict:
    out = dataclasses.asdict(self)
    out['dead_letter_total'] = self.dead_letter_total
    out['reconciles'] = self.reconciles()
    return out


def current_metrics(result: beam.runners.runner.PipelineResult) -> Any:
  """The runner's counters now, not as first asked.

  A portable runner's result (Prism, Flink, Spark; Beam 2.77
  portable_runner.PipelineResult.metrics) keeps the first answer it got and
  returns it ever after: a streaming run's summary and a bounded run's
  progress line would show the counts of their first query. Dropping that
  cached answer makes the next call ask the job service again.
  """
  if getattr(result, '_metrics', None) is not None:
    result._metrics = None  # pylint: disable=protected-access
  return result.metrics()


def summarize(result: beam.runners.runner.PipelineResult) -> RunSummary:
  """Reads the run's counters (namespace `sales`)."""
  summary = RunSummary()
  try:
    summary.state = str(result.state)
    counters = current_metrics(result).query(
        MetricsFilter().with_namespace(metrics.NAMESPACE))['counters']
  except Exception as e:  # some runners cannot report after a cancel
    _LOG.info('metrics unavailable: %s', e)
    return summary
  summary.counted = True
  summary.as_of = time.strftime('%H:%M:%S')
  totals: Dict[str, int] = {}
  for counter in counters:
    value = counter.committed if counter.committed is not None else (
        counter.attempted or 0)
    totals[counter.key.metric.name] = totals.get(counter.key.metric.name,
                                                 0) + int(value or 0)
  summary.records_read = totals.get(metrics.RECORDS_READ, 0)
  summary.duplicates = totals.get(metrics.DUPLICATES, 0)
  for name, value in totals.items():
    if not name.startswith(metrics.DEAD_LETTER_PREFIX):
      continue
    reason = name[len(metrics.DEAD_LETTER_PREFIX):]
    if reason == LATE_REASON:
      summary.late = value
    else:
      summary.dead_letters[reason] = value
  summary.valid = totals.get(metrics.RECORDS_VALID, 0) - summary.duplicates
  summary.windows = totals.get(metrics.WINDOWS_FINAL, 0)
  summary.result_rows = totals.get(metrics.RESULT_ROWS, 0)
  return summary


def _top_categories(output_dir: str, window: WindowPolicy,
                    limit: int = 5) -> List[str]:
  """Categories by revenue over the run: the sum of their window rows.

  Sliding windows overlap, so only the windows that start on a multiple of
  the size (they tile the timeline) are summed; when the size is not a
  multiple of the period there is no such tiling and no line.
  """
  from transforms.sinks.files import RESULTS_FILE
  import pyarrow as pa
  import pyarrow.parquet as pq
  if '://' in output_dir:  # a remote store (hdfs://): through Beam's FileSystems
    from apache_beam.io.filesystems import FileSystems
    path = FileSystems.join(output_dir, RESULTS_FILE)
    if not FileSystems.exists(path):
      return []
    with FileSystems.open(path) as f:
      path = pa.BufferReader(f.read())
  else:
    path = os.path.join(output_dir, RESULTS_FILE)
    if not os.path.exists(path):
      return []
  from transforms.records import ALL_CATEGORIES
  tile_ms = 0
  if window.kind == SLIDING:
    if window.size_seconds % window.period_seconds:
      return []
    tile_ms = window.size_seconds * 1000
  table = pq.read_table(path, columns=['window_start', 'category',
                                       'revenue_usd'])
  totals: Dict[str, Any] = {}
  for start, category, revenue in zip(
      table.column('window_start').cast('int64').to_pylist(),
      table.column('category').to_pylist(),
      table.column('revenue_usd').to_pylist()):
    if category != ALL_CATEGORIES and not (tile_ms and start % tile_ms):
      totals[category] = totals.get(category, 0) + revenue
  ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
  return [f'{name} ${value:,.2f}' for name, value in ranked]


def print_summary(summary: RunSummary, config: SalesConfig) -> None:
  if not summary.counted:
    print('counts unavailable: the runner could not report them')
    return
  lines = [] if config.bounded else [
      f'counts as of {summary.as_of} (streaming; the job was cancelled)']
  lines += [
      f'records read      {summary.records_read}',
      f'valid orders      {summary.valid}',
      f'duplicates        {summary.duplicates}',
      f'dead letters      {summary.dead_letter_total}',
  ]
  for reason, count in sorted(summary.dead_letters.items()):
    lines.append(f'  {reason:<28}{count}')
  if not config.bounded:
    lines.append(f'late (dead)       {summary.late}')
  lines.append(f'windows written   {summary.windows}')
  lines.append('accounted for     ' + (
      'yes' if summary.reconciles() else
      'NO: read != valid + dead letters + duplicates + late'))
  if config.output and config.bounded:
    top = _top_categories(config.output, config.window)
    if top:
      lines.append('top categories    ' + ', '.join(top))
    lines.append(f'output            {config.output}/')
  if config.report:
    lines.append(f'report            {config.report}')
  print('\n'.join(lines))


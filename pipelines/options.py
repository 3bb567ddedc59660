"""The project's flags, as a PipelineOptions subclass.

The flags are declared once, as data, in pipelines/flags.toml (read by
pipelines/flag_table.py); defaults the code also holds come from
DEFAULT_SOURCES below, never typed there a second time. Beam's own flags
(--runner, --streaming, --flink_master, ...) pass through untouched. Every
flag has help text and a default that works on the bundled sample. No help
text states its default: --help appends the value the parser holds
(pipelines/flags.py), so the two cannot drift apart.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import pathlib
import time
from typing import List, Optional, Tuple

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.flag_table import Flag, read_flags
from transforms.dedupe import DEFAULT_TTL_SECONDS
from transforms.mining.config import DETECTORS, MiningConfig
from transforms.pseudonymize import Pseudonymizer, from_flag
from transforms.sinks.redis_sink.write import \
    DEFAULT_RETENTION_S as REDIS_RETENTION_S
from transforms.sources.zeromq.endpoint import \
    DEFAULT_IDLE_TIMEOUT_S as ZMQ_IDLE_TIMEOUT_S
from transforms.windowing import WindowPolicy

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / 'data'
SAMPLE_INPUT = str(DATA_DIR / 'sample' / 'orders.jsonl')
DEFAULT_CATALOG = str(DATA_DIR / 'catalog.csv')
DEFAULT_FX_RATES = str(DATA_DIR / 'fx_rates.csv')
SOURCES = ('files', 'kafka', 'pubsub', 'zeromq')
# Flags the parser leaves unset and config_from_options (or the file reader)
# fills in: --help says in words what an unset flag means.
UNSET_MEANS = {
    'input': 'the bundled sample, '
             f'{pathlib.Path(SAMPLE_INPUT).relative_to(PROJECT_ROOT)}',
    'input_format': 'by extension',
    'max_dead_letter_ratio': 'no gate',
}
# What a flag's default_from in flags.toml may name ("NAME" or
# "NAME.field"): the code's own defaults, so that none is typed twice.
DEFAULT_SOURCES = {
    'window': WindowPolicy(),
    'mining': MiningConfig(),
    'DEFAULT_CATALOG': DEFAULT_CATALOG,
    'DEFAULT_FX_RATES': DEFAULT_FX_RATES,
    'DEFAULT_TTL_SECONDS': DEFAULT_TTL_SECONDS,
    'REDIS_RETENTION_S': REDIS_RETENTION_S,
    'ZMQ_IDLE_TIMEOUT_S': ZMQ_IDLE_TIMEOUT_S,
}
# What a help text in flags.toml may insert as {name}.
HELP_VALUES = {
    'sources': ', '.join(SOURCES),
    'detectors': ', '.join(DETECTORS),
}
FLAG_TABLE = pathlib.Path(__file__).resolve().with_name('flags.toml')


@functools.lru_cache(maxsize=None)
def sales_flags() -> Tuple[Flag, ...]:
  """The flags declared in flags.toml, read and checked once a process."""
  return read_flags(FLAG_TABLE.read_text(encoding='utf-8'),
                    sources=DEFAULT_SOURCES, help_values=HELP_VALUES,
                    where=str(FLAG_TABLE.relative_to(PROJECT_ROOT)))


class SalesOptions(PipelineOptions):
  """Flags of the sales pipeline, declared in pipelines/flags.toml."""

  @classmethod
  def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('sales pipeline')
    for flag in sales_flags():
      flag.add_to(group)


@dataclasses.dataclass(frozen=True)
class SalesConfig:
  """The validated, typed view of SalesOptions that the pipeline builds from."""
  source: str
  inputs: List[str]
  input_format: str
  catalog: str
  catalog_refresh_seconds: float
  fx_rates: str
  event_time_from: str
  output: str
  sinks: List[str]
  dedupe_ttl_seconds: float
  window: WindowPolicy
  top_n: int
  kafka_bootstrap_servers: str
  kafka_topic: str
  kafka_group_id: str
  kafka_config_file: str
  kafka_bounded: bool
  kafka_idle_timeout_seconds: float
  pubsub_subscription: str
  pubsub_topic: str
  pubsub_event_time_attribute: str
  pubsub_reader: str = 'native'
  engine: str = 'arrow'
  kafka_sink_config_file: str = ''
  # 0 normally; a recovery run's panes outrank every earlier run's.
  generation: int = 0
  # None: no data-quality gate (pipelines/quality.py).
  max_dead_letter_ratio: Optional[float] = None
  # None: customer ids as read; else they leave the parse step as keyed
  # pseudonyms (transforms/pseudonymize.py). Its repr never shows the key.
  pseudonymizer: Optional[Pseudonymizer] = None
  # '' = no report; else the HTML file a bounded run writes (docs/report.md).
  report: str = ''
  # The redis:// sink's password reference (never the password) and
  # key retention.
  redis_password: str = ''
  redis_retention_seconds: Optional[float] = None
  zmq_endpoint: str = ''
  zmq_socket: str = 'pull'
  zmq_topic: str = ''
  zmq_idle_timeout_seconds: float = ZMQ_IDLE_TIMEOUT_S
  # The optional mining steps (transforms/mining/); all off by default.
  mining: MiningConfig = MiningConfig()

  @property
  def bounded(self) -> bool:
    return self.window.bounded

  @property
  def columnar(self) -> bool:
    """Whether the steps run on Arrow tables (pipelines/sales.py), as they
    do unless the hidden debugging switch --engine records asks for the
    one-record-at-a-time path."""
    return self.engine == 'arrow'


def is_bounded_run(opts: SalesOptions, streaming: bool) -> bool:
  """Files and a bounded Kafka read are bounded unless --streaming is set."""
  if streaming:
    return False
  return opts.source == 'files' or (opts.source == 'kafka' and
                                    opts.kafka_bounded)


def config_from_options(options: PipelineOptions,
                        streaming: Optional[bool] = None) -> SalesConfig:
  """Validates the flags; raises ValueError with a one-line message."""
  from apache_beam.options.pipeline_options import StandardOptions
  opts = options.view_as(SalesOptions)
  if streaming is None:
    streaming = bool(options.view_as(StandardOptions).streaming)
  if opts.source not in SOURCES:
    raise ValueError(f'--source must be one of {", ".join(SOURCES)}, '
                     f'not {opts.source!r}')
  if opts.event_time_from not in ('payload', 'transport'):
    raise ValueError('--event_time_from must be payload or transport')
  if opts.source == 'pubsub' and bool(opts.pubsub_subscription) == bool(
      opts.pubsub_topic):
    raise ValueError('--source pubsub needs exactly one of '
                     '--pubsub_subscription projects/P/subscriptions/S or '
                     '--pubsub_topic projects/P/topics/T')
  if opts.pubsub_reader not in ('auto', 'native', 'dataflow'):
    raise ValueError('--pubsub_reader must be auto, native or dataflow')
  if opts.recover and opts.source != 'kafka':
    raise ValueError('--recover replays a Kafka topic: use it with '
                     '--source kafka')
  if opts.source == 'zeromq':
    from transforms.sources.zeromq import check_endpoint, check_socket
    check_endpoint(opts.zmq_endpoint)
    check_socket(opts.zmq_socket, opts.zmq_topic)
    if opts.event_time_from != 'payload':
      raise ValueError('--source zeromq: ZeroMQ messages carry no transport '
                       'time; use --event_time_from payload')
  if opts.engine not in ('records', 'arrow'):
    raise ValueError('--engine must be records or arrow')
  runner = (options.view_as(StandardOptions).runner or '').rsplit('.', 1)[-1]
  reader = opts.pubsub_reader
  if reader == 'auto':
    reader = ('dataflow' if runner.lower() == 'dataflowrunner' and
              opts.event_time_from == 'transport' else 'native')
  if opts.top_n < 1:
    raise ValueError('--top_n must be >= 1')
  if opts.dedupe_ttl_seconds <= 0:
    raise ValueError('--dedupe_ttl_seconds must be > 0')
  from pipelines.quality import check_ratio_flag
  max_dead_letter_ratio = check_ratio_flag(opts.max_dead_letter_ratio)
  pseudonymizer = from_flag(opts.pseudonymize_key)
  if opts.report and not is_bounded_run(opts, streaming):
    raise ValueError('--report is for bounded runs (files, or Kafka with '
                     '--kafka_bounded); a streaming run has the live '
                     'dashboard: python -m dashboard')
  policy = WindowPolicy(
      kind=opts.window,
      size_seconds=opts.window_size_seconds,
      period_seconds=opts.window_period_seconds,
      gap_seconds=opts.session_gap_seconds,
      allowed_lateness_seconds=opts.allowed_lateness_seconds,
      early_firing_seconds=opts.early_firing_seconds,
      late_firings=not opts.no_late_firings,
      accumulation=opts.accumulation,
      bounded=is_bounded_run(opts, streaming),
      timezone=opts.timezone)
  mining = MiningConfig(
      segments=opts.segments, product_pairs=opts.product_pairs,
      min_pair_support=opts.min_pair_support,
      pair_partners=opts.pair_partners, anomalies=opts.anomalies,
      anomaly_detector=opts.anomaly_detector)
  mining.check(policy.bounded)
  derived = dict(
      inputs=list(opts.input or [SAMPLE_INPUT]),
      sinks=list(opts.sink or []),
      window=policy,
      pubsub_reader=reader,
      generation=int(time.time() * 1000) if opts.recover else 0,
      max_dead_letter_ratio=max_dead_letter_ratio,
      pseudonymizer=pseudonymizer,
      mining=mining)
  # Every other field is the value of the flag of its name.
  as_given = {field.name: getattr(opts, field.name)
              for field in dataclasses.fields(SalesConfig)
              if field.name not in derived}
  return SalesConfig(**as_given, **derived)

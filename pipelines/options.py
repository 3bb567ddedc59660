"""The project's flags, as a PipelineOptions subclass.

Beam's own flags (--runner, --streaming, --flink_master, ...) pass through
untouched. Every flag here has help text and a default that works on the
bundled sample. No help text states its default: --help appends the value
the parser holds (pipelines/flags.py), so the two cannot drift apart.
"""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
import time
from typing import List, Optional

from apache_beam.options.pipeline_options import PipelineOptions

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


class SalesOptions(PipelineOptions):
  """Flags of the sales pipeline."""

  @classmethod
  def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('sales pipeline')
    add = group.add_argument
    # Input
    add('--source', default='files',
        help=f'Where orders come from: {", ".join(SOURCES)}.')
    add('--input', action='append', default=None,
        help='Input file or glob (JSON Lines, CSV, Avro, Parquet; .gz ok). '
        'Repeat for several.')
    add('--input_format', default='',
        help='jsonl, csv, avro or parquet; empty = by file extension.')
    add('--catalog', default=DEFAULT_CATALOG,
        help='Product catalog CSV: product_id,category,name.')
    add('--catalog_refresh_seconds', type=float, default=300.0,
        help='Streaming only: re-read the catalog this often; 0 = never.')
    add('--fx_rates', default=DEFAULT_FX_RATES,
        help='FX rates CSV: currency,usd_per_unit.')
    add('--event_time_from', default='payload',
        help='payload: the record\'s event_time field; transport: the Kafka '
        'timestamp or Pub/Sub attribute.')
    # Output
    add('--output', default='output',
        help='Directory for Parquet results and JSON Lines dead letters '
        '(bounded runs); empty = no files.')
    add('--sink', action='append', default=None,
        help='Also write to a store; repeatable: sqlite:///path.db, '
        'postgresql://user@host:port/db (password from PGPASSWORD or '
        '.pgpass), kafka://host:port/topic, pubsub://projects/P/topics/T '
        '(also T.top_products, T.dead_letters), bigquery:PROJECT:DATASET, '
        'redis://[user@]host:port/db.')
    add('--redis_password', default='',
        help='env:NAME or file:PATH holding the password of a redis:// '
        'sink (read where the sink runs); empty = the REDISCLI_AUTH '
        'environment variable, if set.')
    add('--redis_retention_seconds', type=float,
        default=float(REDIS_RETENTION_S),
        help='A redis:// sink\'s keys of a window expire this long after '
        'the window last changed; 0 = never.')
    add('--report', default='',
        help='Bounded runs: also write this self-contained HTML report of '
        'the run (charts, top products, data quality), read back from the '
        'tables written (docs/report.md); empty = none.')
    # Cleaning
    add('--dedupe_ttl_seconds', type=float, default=DEFAULT_TTL_SECONDS,
        help='Streaming: how long (event time) an order_id is remembered '
        'for deduplication; batch is exact.')
    # Windows and triggers
    defaults = WindowPolicy()
    add('--window', default=defaults.kind,
        help='fixed, sliding, sessions (per customer) or daily (local '
        'calendar days of --timezone, 23/25 h on DST changes; '
        'docs/daily.md).')
    add('--timezone', default=defaults.timezone,
        help='IANA time zone (e.g. America/New_York) of the daily windows '
        'and of every row\'s `day` column.')
    add('--window_size_seconds', type=int, default=defaults.size_seconds,
        help='Fixed/sliding window size.')
    add('--window_period_seconds', type=int, default=defaults.period_seconds,
        help='Sliding window period.')
    add('--session_gap_seconds', type=int, default=defaults.gap_seconds,
        help='Session gap.')
    add('--allowed_lateness_seconds', type=int,
        default=defaults.allowed_lateness_seconds,
        help='Streaming: how late (event time, behind the watermark) an '
        'order may be and still update its window; later ones become `late` '
        'dead letters.')
    add('--early_firing_seconds', type=int,
        default=defaults.early_firing_seconds,
        help='Streaming: emit an early (speculative) pane this often in '
        'processing time; 0 = none.')
    add('--no_late_firings', action='store_true', default=False,
        help='Streaming: do not emit a late pane per late order.')
    add('--accumulation', default=defaults.accumulation,
        help='accumulating (each pane holds the whole window so far) or '
        'discarding (each pane holds what is new).')
    add('--top_n', type=int, default=5,
        help='How many top products per window.')
    # Kafka
    add('--kafka_bootstrap_servers', default='127.0.0.1:9092',
        help='Kafka brokers for --source kafka.')
    add('--kafka_topic', default='orders',
        help='Kafka topic to read.')
    add('--kafka_group_id', default='sales-pipeline',
        help='Consumer group; offsets are committed after each bundle is '
        'finalized.')
    add('--kafka_config_file', default='',
        help='librdkafka properties file (key=value lines, read on the '
        'workers), e.g. security settings; a value env:NAME or file:PATH is '
        'read from the environment or a file, so secrets never appear in '
        'flags.')
    add('--kafka_sink_config_file', default='',
        help='librdkafka properties file for the kafka:// sink\'s producer, '
        'in the form of --kafka_config_file (often the same file).')
    add('--kafka_bounded', action='store_true', default=False,
        help='Read up to the end offsets seen at start, then finish '
        '(a backfill from Kafka).')
    add('--recover', action='store_true', default=False,
        help='Streaming restart after a crash or stop: replay the Kafka topic '
        'from the start of its retention (not the committed offsets) and '
        'recompute every window; database sinks let the recomputed panes '
        'replace the earlier run\'s rows. A restart whose consumer group has '
        'committed offsets does this by itself; the flag forces it (e.g. '
        'under a new group).')
    add('--kafka_idle_timeout_seconds', type=float, default=10.0,
        help='A partition without new records for this long stops holding '
        'back the watermark.')
    # Pub/Sub
    add('--pubsub_subscription', '--subscription', default='',
        help='projects/P/subscriptions/S for --source pubsub.')
    add('--pubsub_topic', '--topic', default='',
        help='projects/P/topics/T to read (a subscription is created) for '
        '--source pubsub.')
    add('--pubsub_event_time_attribute', default='',
        help='Message attribute holding the event time, with '
        '--event_time_from transport.')
    add('--pubsub_reader', default='auto',
        help='native (this project\'s reader, any runner), dataflow (Beam\'s '
        'ReadFromPubSub, DataflowRunner only, needs --event_time_from '
        'transport) or auto: dataflow on DataflowRunner with transport time, '
        'else native.')
    # ZeroMQ
    add('--zmq_endpoint', default='tcp://127.0.0.1:5556',
        help='ZeroMQ endpoint to connect to for --source zeromq (the sender '
        'binds it); no log, no replay: docs/zeromq.md.')
    add('--zmq_socket', default='pull',
        help='pull (from PUSH senders) or sub (from a PUB feed).')
    add('--zmq_topic', default='',
        help='Topic filter of a sub socket (prefix of the first frame).')
    add('--zmq_idle_timeout_seconds', type=float,
        default=ZMQ_IDLE_TIMEOUT_S,
        help='No ZeroMQ message for this long and the watermark follows '
        'the clock.')
    # Data quality
    add('--max_dead_letter_ratio', type=float, default=None,
        help='Fail the run (exit code 3, after the summary is written) when '
        'dead letters exceed this share of the records read, 0..1.')
    # Privacy
    add('--pseudonymize_key', default='',
        help='env:NAME or file:PATH (a file only its owner can read): the '
        'secret key (at least 16 bytes) of a keyed HMAC-SHA256 that replaces '
        'every customer_id from the parse step on, in every output '
        'including dead letters; the same key gives the same pseudonyms '
        '(docs/security.md).')
    # Mining (docs/mining.md)
    mining = MiningConfig()
    add('--segments', type=int, default=mining.segments,
        help='Bounded runs: cluster customers by recency, frequency and '
        'monetary value into this many k-means segments (customer_segments, '
        'segment_summary); 0 = off.')
    add('--product_pairs', action='store_true', default=False,
        help='Products bought together in one customer session '
        '(--session_gap_seconds): support, confidence and lift per day '
        '(product_pairs).')
    add('--min_pair_support', type=float, default=mining.min_pair_support,
        help='With --product_pairs: the share of baskets a pair must reach.')
    add('--pair_partners', type=int, default=mining.pair_partners,
        help='With --product_pairs: the partners kept per product, by lift.')
    add('--anomalies', action='store_true', default=False,
        help='Score each window\'s revenue and orders per category with '
        'Beam\'s anomaly detection (anomalies; Kafka: <topic>.alerts).')
    add('--anomaly_detector', default=mining.anomaly_detector,
        help=f'With --anomalies: {", ".join(DETECTORS)}.')
    # A debugging switch, not in --help: `records` runs the same steps one
    # record at a time (the exact scalar rules alone), to compare with the
    # default columnar run.
    add('--engine', default='arrow', help=argparse.SUPPRESS)


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

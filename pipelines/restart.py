"""A plain restart is a recovery: the decision made before a streaming
Kafka run starts.

Window state lives in the runner. A job that starts afresh (a restart on
Prism after a crash or a Ctrl-C, a new submission to Flink or Dataflow
without its savepoint) has empty windows, while the consumer group's
committed offsets say the records before them were read already. Resuming
there would leave every open window partial. So when the group has
committed offsets on the topic, the run recovers on its own, exactly as
``--recover`` asks: it replays the topic from the start of its retention
and writes with a new generation, so its recomputed panes replace the
earlier run's rows (docs/recovery.md).

A Flink job restored from a savepoint or checkpoint (``--savepoint_path``)
keeps its windows and its read positions: nothing to recover.
"""
from __future__ import annotations

import dataclasses
import logging
import time

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import SalesConfig

_LOG = logging.getLogger('pipeline')


def restores_state(options: PipelineOptions) -> bool:
  """Whether the runner restores the job's state (Flink's
  ``--savepoint_path``: a savepoint or a retained checkpoint)."""
  extra = options.get_all_options(retain_unknown_options=True)
  return bool(extra.get('savepoint_path'))


def plan_restart(config: SalesConfig, options: PipelineOptions) -> SalesConfig:
  """``config``, or the recovery run's config when this streaming Kafka run
  is a restart of a job whose window state did not survive."""
  if (config.bounded or config.source != 'kafka' or config.generation
      or restores_state(options)):
    return config
  from transforms.sources.kafka.partitions import committed_partitions
  parts = committed_partitions(config.kafka_bootstrap_servers,
                               config.kafka_topic, config.kafka_group_id,
                               config.kafka_config_file or None)
  if not parts:
    return config
  _LOG.warning(
      'restart: consumer group %r has committed offsets on %s (partitions '
      '%s) but this run starts with empty windows; recovering as --recover '
      'does: replaying the topic from the start of its retention, the '
      'recomputed panes replace the earlier rows', config.kafka_group_id,
      config.kafka_topic, ', '.join(map(str, parts)))
  return dataclasses.replace(config, generation=int(time.time() * 1000))

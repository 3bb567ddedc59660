"""The consumer's librdkafka configuration.

Any librdkafka property can be passed in ``consumer_config`` (a dict) or in
a properties file (``consumer_config_file``, ``key=value`` lines) read on
the worker; ``env:NAME`` and ``file:PATH`` values and the refusal of literal
secrets are transforms/kafka_client.py's. Offsets are committed by the
bundle finalizer (read.py), never by librdkafka itself.
"""
from __future__ import annotations

import uuid
from typing import Any, Dict

from transforms.kafka_client import KafkaConnection

# What the source needs whatever the user configures.
CONSUMER_FORCED = {
    'enable.auto.commit': False,
    'enable.auto.offset.store': False,
}


def consumer_defaults(group_id: str) -> Dict[str, Any]:
  """The defaults a user's properties may override."""
  return {
      'group.id': group_id,
      'auto.offset.reset': 'earliest',
      'enable.partition.eof': False,
      'isolation.level': 'read_committed',
      'client.id': 'sales-pipeline-%s' % uuid.uuid4().hex[:8],
  }


def consumer_config(connection: KafkaConnection,
                    group_id: str) -> Dict[str, Any]:
  """A consumer's full configuration: defaults < file < dict < forced."""
  return connection.client_config(consumer_defaults(group_id),
                                  CONSUMER_FORCED)

"""The consumer's librdkafka configuration.

Any librdkafka property can be passed in ``consumer_config`` (a dict) or in
a properties file (``consumer_config_file``, ``key=value`` lines) read on
the worker; ``env:NAME`` and ``file:PATH`` values and the refusal of literal
secrets are transforms/kafka_client.py's. Offsets are committed by the
bundle finalizer (read.py), never by librdkafka itself.
"""
from __future__ import annotations

import uuid
from typing import Any, Dict, Mapping, Optional

from transforms.kafka_client import resolve_client_config, with_routed_logs

# What the source needs whatever the user configures.
CONSUMER_FORCED = {
    'enable.auto.commit': False,
    'enable.auto.offset.store': False,
}


def consumer_base(bootstrap_servers: str, group_id: str) -> Dict[str, Any]:
  """The defaults a user's properties may override."""
  return {
      'bootstrap.servers': bootstrap_servers,
      'group.id': group_id,
      'auto.offset.reset': 'earliest',
      'enable.partition.eof': False,
      'isolation.level': 'read_committed',
      'client.id': 'sales-pipeline-%s' % uuid.uuid4().hex[:8],
  }


def resolve_consumer_config(bootstrap_servers: str, group_id: str,
                            config: Optional[Mapping[str, Any]],
                            config_file: Optional[str]) -> Dict[str, Any]:
  """A consumer's full configuration: base < file < dict < forced, with
  librdkafka's logs routed through Python logging (kafka_client)."""
  return with_routed_logs(resolve_client_config(
      consumer_base(bootstrap_servers, group_id), config, config_file,
      CONSUMER_FORCED))

"""Outages of the services a running pipeline talks to, reported calmly.

A service that stops answering mid-run (a database, Pub/Sub) is retried by
the step that uses it; the terminal shows one warning when the outage
begins and one when the service answers again, and the retries between go
to DEBUG (docs/troubleshooting.md). Kafka's client reports its own, through
the same two kinds of line (transforms/kafka_client.py).
"""
from __future__ import annotations

import logging
import time
from typing import Optional


class Outage:
  """The outage state of one service, as one step sees it.

  what: the service, as a user would name it, never with a secret.
  """

  def __init__(self, what: str, log: logging.Logger) -> None:
    self._what = what
    self._log = log
    self._since: Optional[float] = None

  def failed(self, reason: str, retry: str = 'retrying') -> None:
    """A call failed and will be retried."""
    if self._since is None:
      self._since = time.monotonic()
      self._log.warning('%s is unreachable (%s); %s', self._what, reason,
                        retry)
    else:
      self._log.debug('%s still unreachable (%s)', self._what, reason)

  def answered(self) -> None:
    """A call succeeded: ends the outage, once."""
    if self._since is not None:
      self._log.warning('%s is reachable again (after %.1f s)', self._what,
                        time.monotonic() - self._since)
      self._since = None

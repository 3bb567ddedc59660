"""What a Pub/Sub message says: its position and its transport time.

Source position of a record: ``source`` is the subscription path and
``position`` the message id as an integer (Pub/Sub ids are decimal strings;
the emulator's are ``m<N>``), ``partition`` is None.
"""
from __future__ import annotations

import datetime
import zlib
from typing import Optional


def message_position(message_id: str) -> int:
  """The message id as an integer (decimal ids; the emulator's ``m<N>``)."""
  digits = ''.join(c for c in message_id or '' if c.isdigit())
  if digits and len(digits) <= 18:
    return int(digits)
  return zlib.crc32((message_id or '').encode('utf-8'))


def publish_time_ms(message) -> Optional[int]:
  """The message's publish time in epoch ms, or None."""
  pt = message.publish_time
  if pt is None:
    return None
  if isinstance(pt, datetime.datetime):
    if pt.tzinfo is None:
      pt = pt.replace(tzinfo=datetime.timezone.utc)
    return int(pt.timestamp() * 1000)
  try:  # protobuf Timestamp
    return pt.seconds * 1000 + pt.nanos // 1_000_000
  except AttributeError:
    return None

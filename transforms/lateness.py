"""Late data: records beyond the allowed lateness become dead letters.

A runner drops an element silently once the watermark has passed its
window's end plus the allowed lateness. To count and keep such records, the
decision is made while parsing, before windowing, against the watermark the
reading source reported when it emitted the record
(RawRecord.source_watermark_ms). Downstream watermarks never run ahead of
the source's, so a record let through here is never late-dropped by the
runner afterwards, and a record routed away here is one the runner might
have dropped: every record is either aggregated or a `late` dead letter,
never both, never neither. Bounded reads carry no source watermark: nothing
is late in a batch.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from transforms.validate import Rejection
from transforms.windowing import WindowPolicy

LATE_REASON = 'late'


@dataclasses.dataclass(frozen=True)
class LateDataRule:
  """Decides whether an event is beyond the policy's allowed lateness."""
  policy: WindowPolicy

  def check(self, event_time_ms: int,
            source_watermark_ms: Optional[int]) -> Optional[Rejection]:
    if source_watermark_ms is None:
      return None
    expiry_ms = self.policy.earliest_expiry_ms(event_time_ms)
    if expiry_ms > source_watermark_ms:
      return None
    return late_rejection(expiry_ms, source_watermark_ms)


def late_rejection(expiry_ms: int, source_watermark_ms: int) -> Rejection:
  """The dead-letter reason and detail of an event past its window's
  expiry (both the record and the columnar checks say it so)."""
  return Rejection(
      LATE_REASON, f'window closed at {expiry_ms} ms; source watermark was '
      f'{source_watermark_ms} ms')

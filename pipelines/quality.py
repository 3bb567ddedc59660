"""The data-quality gate: a run whose dead letters exceed a share of the
records read fails, with its own exit code, after its summary is written.

Pure: `dead_letter_gate` reads a RunSummary's counts and returns a verdict;
the CLI decides what to do with it (pipelines/run.py, pipelines/cli.py).
Dead letters here are the records that broke a rule (every reason but
`late`, which streaming counts apart): ratio = dead letters / records read.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from pipelines.summary import RunSummary

# The exit code of a run that the gate failed (1: failed, 2: usage).
EXIT_QUALITY = 3


class QualityGateFailed(Exception):
  """The run finished, but its dead-letter ratio exceeded the gate's.

  Not a ValueError: the CLI tells it apart from a failed run by its type.
  """


@dataclasses.dataclass(frozen=True)
class GateVerdict:
  """The gate's verdict on one run, as written into summary.json."""
  max_dead_letter_ratio: float
  dead_letter_ratio: float
  dead_letters: int
  records_read: int

  @property
  def passed(self) -> bool:
    return self.dead_letter_ratio <= self.max_dead_letter_ratio

  @property
  def message(self) -> str:
    verdict = 'passed' if self.passed else 'failed'
    return (f'data-quality gate {verdict}: {self.dead_letters} dead letters '
            f'of {self.records_read} records read = '
            f'{self.dead_letter_ratio:.4%} (limit '
            f'{self.max_dead_letter_ratio:.4%}, --max_dead_letter_ratio)')

  def as_dict(self) -> Dict[str, Any]:
    out = dataclasses.asdict(self)
    out['passed'] = self.passed
    return out


def check_ratio_flag(value: Optional[float]) -> Optional[float]:
  """A --max_dead_letter_ratio value: unset (None), or a share in 0..1."""
  if value is None:
    return None
  if not 0 <= value <= 1:
    raise ValueError('--max_dead_letter_ratio must be between 0 and 1, '
                     f'not {value}')
  return float(value)


def dead_letter_gate(summary: RunSummary,
                     max_ratio: Optional[float]) -> Optional[GateVerdict]:
  """The verdict on a run, or None when the gate is off (max_ratio None) or
  the runner reported no counts (nothing to judge). A run that read nothing
  passes."""
  if max_ratio is None or not summary.counted:
    return None
  read = summary.records_read
  dead = summary.dead_letter_total
  return GateVerdict(max_dead_letter_ratio=max_ratio,
                     dead_letter_ratio=dead / read if read else 0.0,
                     dead_letters=dead, records_read=read)

"""Which mining steps a run takes, and their settings (flags in
pipelines/options.py; docs/mining.md)."""
from __future__ import annotations

import dataclasses

DETECTORS = ('zscore', 'robust_zscore', 'iqr', 'ensemble')


@dataclasses.dataclass(frozen=True)
class MiningConfig:
  """segments: k-means clusters of customers (0 = off; bounded runs).
  product_pairs: association rules of products bought in one session.
  min_pair_support: the share of baskets a pair must reach to be kept.
  pair_partners: how many partners per product (by lift) are output.
  anomalies: score each window's revenue and orders per category.
  anomaly_detector: one of DETECTORS."""
  segments: int = 0
  product_pairs: bool = False
  min_pair_support: float = 0.001
  pair_partners: int = 5
  anomalies: bool = False
  anomaly_detector: str = 'zscore'

  @property
  def any(self) -> bool:
    return bool(self.segments or self.product_pairs or self.anomalies)

  def check(self, bounded: bool) -> None:
    """Raises ValueError, in one line, for settings that cannot run."""
    if self.segments and not bounded:
      raise ValueError('--segments clusters a whole bounded run; it cannot '
                       'be used with --streaming')
    if self.segments and not 2 <= self.segments <= 50:
      raise ValueError('--segments must be between 2 and 50')
    if not 0 < self.min_pair_support <= 1:
      raise ValueError('--min_pair_support must be in (0, 1]')
    if self.pair_partners < 1:
      raise ValueError('--pair_partners must be >= 1')
    if self.anomaly_detector not in DETECTORS:
      raise ValueError(f'--anomaly_detector must be one of '
                       f'{", ".join(DETECTORS)}')

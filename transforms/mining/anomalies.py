"""Anomaly alerts: each window's revenue and orders per category, scored
with Beam's anomaly detectors (apache_beam.ml.anomaly).

A series is one (category, metric) of the sales_by_category rows of fixed
or sliding windows (``__all__`` included; per-customer sessions are not
scored), metric ``revenue_usd`` or ``orders``. Each settled value is scored
against the series so far, then learned, exactly as Beam's
``AnomalyDetection`` does (score_one, then learn_one, then the detector's
threshold):

* an ON_TIME pane (every pane of a bounded run is one) is scored and
  learned: a window is learned once, never from its EARLY panes;
* a LATE pane re-scores its window against the model as it stands, without
  learning it again; its row says ``rescored``.

Detectors (``--anomaly_detector``): ``zscore`` (ZScore, threshold 3),
``robust_zscore`` (RobustZScore, 3), ``iqr`` (IQR, 1.5), or ``ensemble``:
all three, the window is an anomaly when any of them says so (Beam's
AnyVote); its score is the highest of score / threshold, threshold 1.

Why not the AnomalyDetection PTransform itself: its stateful DoFn scores
elements in arrival order. In a stream, settled panes arrive in window
order; in a bounded run they do not, so the bounded run groups each series
and feeds its windows in order to the same ``SeriesScorer``, and the
stream keeps the scorer in per-series state. Both give the same rows.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
from apache_beam.coders import coders
from apache_beam.transforms import window
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from transforms.records import CategoryResult

METRICS = ('revenue_usd', 'orders')
# A series' first settled windows train the detectors but are not judged:
# with two or three values a median or quartile is no baseline (IQR and
# RobustZScore would flag the third window of every steady series).
WARM_UP_WINDOWS = 8
SeriesKey = Tuple[str, str]  # (category, metric)


def _detectors(name: str) -> List[Tuple[Any, Any]]:
  """[(Beam detector, its threshold)] of a --anomaly_detector name."""
  from apache_beam.ml.anomaly.detectors.iqr import IQR
  from apache_beam.ml.anomaly.detectors.robust_zscore import RobustZScore
  from apache_beam.ml.anomaly.detectors.zscore import ZScore
  from apache_beam.ml.anomaly.thresholds import FixedThreshold
  kinds = {'zscore': (ZScore, 3.0), 'robust_zscore': (RobustZScore, 3.0),
           'iqr': (IQR, 1.5)}
  chosen = list(kinds) if name == 'ensemble' else [name]
  out = []
  for kind in chosen:
    cls, cutoff = kinds[kind]
    threshold = FixedThreshold(cutoff)
    out.append((cls(threshold_criterion=threshold, _run_init=True),
                threshold))
  return out


class SeriesScorer:
  """Beam's detector(s) for one series: score a value, then learn it."""

  def __init__(self, detector: str) -> None:
    self.detector = detector
    self._models = _detectors(detector)
    self._learned = 0

  def score(self, value: float, learn: bool
            ) -> Tuple[Optional[float], Optional[float], bool]:
    """(score, threshold, is_anomaly); score None while warming up (fewer
    than WARM_UP_WINDOWS values learned, or the detector has none yet)."""
    from apache_beam.ml.anomaly.aggregations import AnyVote
    from apache_beam.ml.anomaly.base import AnomalyPrediction
    x = beam.Row(value=float(value))
    predictions = []
    for model, threshold in self._models:
      s = model.score_one(x)
      predictions.append(AnomalyPrediction(
          score=s, label=threshold.apply(s), threshold=threshold.threshold))
      if learn:
        model.learn_one(x)
    single = len(predictions) == 1
    threshold = predictions[0].threshold if single else 1.0
    warming_up = self._learned < WARM_UP_WINDOWS
    self._learned += int(learn)
    if warming_up:
      return None, threshold, False
    if single:
      p = predictions[0]
      ready = p.score is not None and not math.isnan(p.score)
      return (p.score if ready else None, threshold, p.label == 1)
    label = AnyVote().apply(predictions).label
    ratios = [p.score / p.threshold for p in predictions
              if p.score is not None and not math.isnan(p.score)]
    return (max(ratios) if ratios else None, threshold, label == 1)

  def observe(self, row: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """An anomalies row for a settled value (see the module docstring),
    None for an EARLY pane."""
    if row['pane_timing'] == 'EARLY':
      return None
    rescored = row['pane_timing'] == 'LATE'
    score, threshold, flagged = self.score(row['value'], learn=not rescored)
    return dict(row, score=score, threshold=threshold, is_anomaly=flagged,
                detector=self.detector, rescored=rescored)


def series_values(result: CategoryResult) -> Iterable[Tuple[SeriesKey, Dict]]:
  """A sales_by_category row -> ((category, metric), value row) per metric;
  nothing for per-customer rows."""
  if result.customer_id:
    return
  for metric in METRICS:
    yield (result.category, metric), {
        'window_start': result.window_start_ms,
        'window_end': result.window_end_ms, 'category': result.category,
        'metric': metric, 'value': float(getattr(result, metric)),
        'pane_timing': result.pane_timing, 'pane_index': result.pane_index,
        'is_final': result.is_final}


def window_order(row: Dict[str, Any]) -> Tuple:
  return (row['window_start'], row['window_end'], row['pane_index'])


class ScoreSeriesFn(beam.DoFn):
  """Bounded: (series, its rows) -> anomalies rows, in window order."""

  def __init__(self, detector: str) -> None:
    self._detector = detector

  def process(self, element):
    _, rows = element
    scorer = SeriesScorer(self._detector)
    for row in sorted(rows, key=window_order):
      scored = scorer.observe(row)
      if scored is not None:
        yield scored


class ScoreInStateFn(beam.DoFn):
  """Streaming: each settled row scored by the series' scorer in state."""
  SCORER = ReadModifyWriteStateSpec('scorer', coders.PickleCoder())

  def __init__(self, detector: str) -> None:
    self._detector = detector

  def process(self, element, scorer_state=beam.DoFn.StateParam(SCORER)):
    _, row = element
    scorer = scorer_state.read() or SeriesScorer(self._detector)
    scored = scorer.observe(row)
    if scored is not None:
      scorer_state.write(scorer)
      yield scored


@beam.ptransform_fn
def AnomalyAlerts(  # pylint: disable=invalid-name  (a PTransform's name)
    results: beam.PCollection, detector: str,
    bounded: bool) -> beam.PCollection:
  """PCollection[CategoryResult] -> PCollection[anomalies rows]."""
  series = (results
            | 'SeriesValues' >> beam.FlatMap(series_values).with_output_types(
                Tuple[Tuple[str, str], Dict[str, Any]])
            | 'AcrossWindows' >> beam.WindowInto(window.GlobalWindows()))
  if bounded:
    return (series
            | 'GroupSeries' >> beam.GroupByKey()
            | 'ScoreInWindowOrder' >> beam.ParDo(ScoreSeriesFn(detector)))
  return series | 'ScoreAsSettled' >> beam.ParDo(ScoreInStateFn(detector))

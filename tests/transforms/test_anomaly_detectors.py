"""Each --anomaly_detector on a planted series (pure logic: the scorer both
the bounded and the streaming flow use, transforms/mining/anomalies.py).

Twenty settled windows of steady trade (10, 11, 12, ...) with a planted
drop (2) and spike (60): every detector flags exactly those two. The
ensemble flags what any of Beam's three detectors flags on its own, and its
score is the highest score / threshold of the three."""
import pytest

from transforms.mining.anomalies import WARM_UP_WINDOWS, SeriesScorer

pytestmark = pytest.mark.mining

DROP, SPIKE = 12, 17
STEADY = [10 + i % 3 for i in range(20)]
PLANTED = [{DROP: 2, SPIKE: 60}.get(i, v) for i, v in enumerate(STEADY)]
THRESHOLDS = {'zscore': 3.0, 'robust_zscore': 3.0, 'iqr': 1.5}


def scores(detector, values):
  scorer = SeriesScorer(detector)
  return [scorer.score(v, learn=True) for v in values]


@pytest.mark.parametrize('detector', ['zscore', 'robust_zscore', 'iqr',
                                      'ensemble'])
def test_each_detector_flags_exactly_the_planted_windows(detector):
  out = scores(detector, PLANTED)
  assert [i for i, (_, _, flagged) in enumerate(out) if flagged] == [
      DROP, SPIKE]
  assert all(score is None for score, _, _ in out[:WARM_UP_WINDOWS])
  assert out[SPIKE][0] > out[DROP][0] >= out[SPIKE][1]


@pytest.mark.parametrize('detector', ['robust_zscore', 'iqr'])
def test_a_short_history_is_not_judged(detector):
  """Without the warm-up these flag the third window of a steady series."""
  assert not any(flagged for _, _, flagged in scores(detector, STEADY))


def test_the_ensemble_is_any_vote_of_the_three_with_the_highest_ratio():
  # Moderate outliers on which the three disagree (zscore alone flags 8
  # and 14 after this history; all three flag 7 and 16).
  history = STEADY[:12]
  split = 0
  for probe in (8, 9.5, 7, 14, 15.2, 16):
    single = {}
    for detector in THRESHOLDS:
      scorer = SeriesScorer(detector)
      for v in history:
        scorer.score(v, learn=True)
      single[detector] = scorer.score(probe, learn=False)
    ensemble = SeriesScorer('ensemble')
    for v in history:
      ensemble.score(v, learn=True)
    score, threshold, flagged = ensemble.score(probe, learn=False)
    votes = sum(f for _, _, f in single.values())
    split += 0 < votes < len(THRESHOLDS)
    assert flagged == (votes > 0), (probe, single)
    assert threshold == 1.0
    assert score == pytest.approx(max(
        s / THRESHOLDS[d] for d, (s, _, _) in single.items()))
  assert split >= 2  # the vote was tested where the detectors disagree
  assert [d for d, (_, _, f) in single.items() if f] == list(THRESHOLDS)

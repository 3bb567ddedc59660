"""How the Kafka source stamps a record and moves its partition's watermark
(one rule for the record-at-a-time and the batch reads), and what watermark
a partition reports to the runner (held at the lowest partition)."""
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp

from transforms.sources.kafka import (PartitionWatermarkEstimator,
                                      WatermarkHolds)
from transforms.sources.unbounded import stamp_us

MIN = MIN_TIMESTAMP.micros

OOO = 2_000_000  # 2 s of allowed out-of-orderness, in micros


def test_event_time_stamps_the_record_and_moves_the_watermark_up():
  assert stamp_us(10_000, 99, None, OOO) == (10_000_000, 8_000_000)
  assert stamp_us(10_000, 99, 5_000_000, OOO) == (10_000_000, 8_000_000)


def test_an_older_event_never_moves_the_watermark_back():
  assert stamp_us(6_000, 99, 8_000_000, OOO) == (6_000_000, 8_000_000)


def test_without_event_time_the_watermark_then_kafka_time_then_now():
  assert stamp_us(None, 7_000, 8_000_000, OOO) == (8_000_000, 8_000_000)
  assert stamp_us(None, 7_000, None, OOO) == (7_000_000, None)
  before = Timestamp.now().micros
  us, watermark = stamp_us(None, None, None, OOO)
  assert before <= us <= Timestamp.now().micros and watermark is None


def test_a_partition_reports_the_lowest_watermark_of_its_source():
  holds = WatermarkHolds()
  for p in (0, 1):
    holds.register('src', ('t', p))
  # Partition 1 has read nothing yet: partition 0 is held at MIN.
  assert holds.report('src', ('t', 0), 9_000) == MIN
  assert holds.report('src', ('t', 1), 4_000) == 4_000
  assert holds.report('src', ('t', 0), 9_500) == 4_000
  # An own watermark never moves back, whatever a caller passes.
  assert holds.report('src', ('t', 1), 3_000) == 4_000
  assert holds.report('src', ('t', 1), 12_000) == 9_500
  # Another source is independent.
  assert holds.report('other', ('t', 0), 1_000) == 1_000


def test_a_late_registration_never_moves_a_reported_watermark_back():
  holds = WatermarkHolds()
  assert holds.report('src', ('t', 0), 9_000) == 9_000
  holds.register('src', ('t', 1))  # e.g. seen first by this worker now
  assert holds.report('src', ('t', 0), 9_100) == 9_000
  assert holds.report('src', ('t', 1), 5_000) == 5_000
  assert holds.report('src', ('t', 1), 9_900) == 9_100


def test_the_estimator_reports_the_hold_but_keeps_its_own_watermark():
  wm = PartitionWatermarkEstimator((Timestamp(micros=9_000), 1.0))
  assert wm.current_watermark() == Timestamp(micros=9_000)
  wm.hold_at(Timestamp(micros=4_000))
  assert wm.current_watermark() == Timestamp(micros=4_000)
  assert wm.own_watermark_us() == 9_000
  assert wm.get_estimator_state() == (Timestamp(micros=9_000), 1.0)
  wm.hold_at(Timestamp(micros=20_000))  # a hold never raises it
  assert wm.current_watermark() == Timestamp(micros=9_000)

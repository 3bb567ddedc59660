"""How the Kafka source stamps a record and moves its partition's watermark
(one rule for the record-at-a-time and the batch reads)."""
from apache_beam.utils.timestamp import Timestamp

from transforms.sources.kafka_source import _stamp_us

OOO = 2_000_000  # 2 s of allowed out-of-orderness, in micros


def test_event_time_stamps_the_record_and_moves_the_watermark_up():
  assert _stamp_us(10_000, 99, None, OOO) == (10_000_000, 8_000_000)
  assert _stamp_us(10_000, 99, 5_000_000, OOO) == (10_000_000, 8_000_000)


def test_an_older_event_never_moves_the_watermark_back():
  assert _stamp_us(6_000, 99, 8_000_000, OOO) == (6_000_000, 8_000_000)


def test_without_event_time_the_watermark_then_kafka_time_then_now():
  assert _stamp_us(None, 7_000, 8_000_000, OOO) == (8_000_000, 8_000_000)
  assert _stamp_us(None, 7_000, None, OOO) == (7_000_000, None)
  before = Timestamp.now().micros
  us, watermark = _stamp_us(None, None, None, OOO)
  assert before <= us <= Timestamp.now().micros and watermark is None

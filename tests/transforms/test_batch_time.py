"""A batch's event times and stamps (transforms/sources/batch_time.py) are
the record-at-a-time rules' (payload_event_time_ms, stamp_us), record for
record."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.sources.batch_time import payload_event_times_ms, stamp_batch
from transforms.sources.unbounded import payload_event_time_ms, stamp_us

OOO = 2_000_000

_HEAD = ('{"order_id":"o1","customer_id":"c1","product_id":"p1",'
         '"quantity":2,"unit_price":"9.5","currency":"EUR","event_time":')

_EDGE_TIMES = [
    '1.5e12', 'null', 'true', '"2026-12-01 10:00:00+01:00"',
    '"20261201T100000Z"', '"soon"', '""', '"1796290033837"',
    '"2024-02-29T23:59:59.999Z"', '"2023-02-29T00:00:00Z"',
    '"9998-12-31T23:59:59.999Z"', '"9999-01-01T00:00:00Z"',
    '"1970-01-01T00:00:00+00:01"', '253370764799999', '253370764800000',
    '0', '00', '-0', '-1', '1234567890123456', '"253370764800000"',
    '" 253370764799999 "', '"1e3"', '" "', '"' + 'x' * 70 + '"']

_TIMES = st.one_of(
    st.integers(-5, 300_000_000_000_000).map(str),  # JSON numbers
    st.integers(0, 10**16).map(lambda i: f'" {i} "'),  # epoch text
    st.builds(
        lambda y, mo, d, h, mi, s, ms, tail:
        f'"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{ms}{tail}"',
        st.integers(1, 9999), st.integers(0, 13), st.integers(0, 32),
        st.integers(0, 24), st.integers(0, 60), st.integers(0, 60),
        st.sampled_from(['', '.123', '.5']),
        st.sampled_from(['Z', '+05:30', '-14:00', '+24:00', '', ' Z'])),
    st.sampled_from(_EDGE_TIMES))

_TAILS = st.sampled_from(['}', ',"country":"JP"}', ',"channel":"web"}',
                          ',"country":"JP","channel":"app"}', ',"x":1}'])

_PAYLOADS = st.one_of(
    st.builds(lambda t, tail: (_HEAD + t + tail).encode(), _TIMES, _TAILS),
    st.builds(lambda t: json.dumps({'event_time': json.loads(t)}).encode(),
              _TIMES.filter(lambda t: t not in ('00',))),
    st.sampled_from([b'', b'nonsense', b'[1]', b'{"event_time":5}\r',
                     b'{"event_time":\n5}', b'{"event_time": "5" }',
                     b'{"event_time":7,"x":NaN}', b'{"event_time":7,"x":1e999}',
                     b'{"event_time":' + b'9' * 30 + b'}', b'{"event_time":[]}',
                     b'{"event_time":5,"event_time":"1970-01-01T00:00:01Z"}',
                     b'\xff{"event_time":5}']))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PAYLOADS, max_size=30))
def test_batch_event_times_are_the_scalar_rule(payloads):
  assert payload_event_times_ms(payloads) == [payload_event_time_ms(p)
                                             for p in payloads]


def test_every_edge_time_in_a_batch_of_the_common_shape():
  """The columnar event times (the common shape) against the scalar rule,
  each edge value with each tail, in one batch."""
  payloads = [(_HEAD + t + tail).encode() for t in _EDGE_TIMES
              for tail in ('}', ',"country":"JP"}', ',"x":1}')]
  assert payload_event_times_ms(payloads) == [payload_event_time_ms(p)
                                             for p in payloads]


def test_another_field_is_read_by_name():
  payloads = [b'{"ts":7,"event_time":9}', b'{"event_time":9}']
  assert payload_event_times_ms(payloads, 'ts') == [7, None]


_MS = st.one_of(st.none(), st.integers(0, 300_000_000_000_000))


@given(st.lists(st.tuples(_MS, st.integers(0, 10**13)), min_size=1,
                max_size=40),
       st.one_of(st.none(), st.integers(-10**15, 10**18)))
def test_batch_stamps_are_stamp_us_record_by_record(records, start):
  hi, stamps, watermarks = start, [], []
  for event_ms, transport_ms in records:
    watermarks.append(None if hi is None else hi // 1000)
    us, hi = stamp_us(event_ms, transport_ms, hi, OOO)
    stamps.append(us)
  got = stamp_batch([e for e, _ in records], [t for _, t in records], start,
                    OOO)
  assert got.watermarks_ms == watermarks
  assert got.low_us == min(stamps)
  assert got.watermark_us == hi


def test_without_any_time_a_record_is_stamped_now():
  from apache_beam.utils.timestamp import Timestamp
  before = Timestamp.now().micros
  got = stamp_batch([None], [None], None, OOO)
  assert before <= got.low_us <= Timestamp.now().micros
  assert got.watermarks_ms == [None] and got.watermark_us is None

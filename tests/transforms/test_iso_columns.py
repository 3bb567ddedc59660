"""The columnar ISO-8601 rule (event_time.iso_ms_columns, through
iso_ms_strings) is parse_event_time_ms's, text for text: every time it
accepts has the scalar rule's milliseconds (a text it declines takes the
scalar rule), and it accepts the ordinary times of its shapes, so the fast
path is taken."""
import datetime

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.event_time import BadTime, iso_ms_strings, parse_event_time_ms

_ISO = st.builds(
    lambda y, mo, d, h, mi, s, ms, tail:
    f'{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{ms}{tail}',
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32),
    st.integers(0, 24), st.integers(0, 60), st.integers(0, 60),
    st.sampled_from(['', '.000', '.123', '.999', '.5', '.1234']),
    st.sampled_from(['Z', '+00:00', '+05:30', '-14:00', '+23:59', '-23:59',
                     '+24:00', '+05:60', '', 'z', ' Z', '+0530']))


def _mutated(text: str, at: int, byte: str) -> str:
  at %= len(text) + 1
  return text[:at] + byte + text[at + 1:]


_TEXTS = st.one_of(
    _ISO,
    st.builds(_mutated, _ISO, st.integers(0, 30),
              st.sampled_from(list('0123456789-:TZ.+/ a\u00e9'))),
    st.sampled_from(['1970-01-01T00:00:00Z', '1970-01-01T00:00:00+00:01',
                     '9998-12-31T23:59:59.999Z', '9999-01-01T00:00:00Z',
                     '9998-12-31T23:59:59.999-00:01', '2024-02-29T12:00:00Z',
                     '2023-02-29T12:00:00Z', '2000-02-29T00:00:00Z',
                     '1900-02-29T00:00:00Z', '0001-01-01T00:00:00Z', '',
                     '2026-1:-02T10:15:00Z', '2026-11-02T1/:15:00Z',
                     '2026-11-02T10:15:00.1:3Z', '2026-11-02T10:15:00+0/:30']))


def _scalar(text: str):
  try:
    return parse_event_time_ms(text)
  except BadTime:
    return None


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), _TEXTS), min_size=1, max_size=40))
def test_the_columnar_iso_rule_is_the_scalar_rule(texts):
  ok, ms = iso_ms_strings(pa.array(texts, pa.string()))
  for text, accepted, value in zip(texts, ok.tolist(), ms.tolist()):
    expected = None if text is None else _scalar(text)
    if accepted:
      assert value == expected, text


# YYYY-MM-DDTHH:MM:SS[.mmm](Z|+HH:MM|-HH:MM) of real instants in range.
_ORDINARY = st.builds(
    lambda when, millis, offset_min: (
        when.strftime('%Y-%m-%dT%H:%M:%S') + millis +
        ('Z' if offset_min is None else
         f"{'-' if offset_min < 0 else '+'}"
         f'{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}')),
    st.datetimes(datetime.datetime(1971, 1, 1),
                 datetime.datetime(9998, 12, 30)),
    st.sampled_from(['', '.000', '.042', '.999']),
    st.one_of(st.none(), st.integers(-(23 * 60 + 59), 23 * 60 + 59)))


@settings(max_examples=200, deadline=None)
@given(st.lists(_ORDINARY, min_size=1, max_size=20))
def test_ordinary_times_of_its_shapes_are_taken_by_the_twin(texts):
  ok, ms = iso_ms_strings(pa.array(texts, pa.string()))
  assert ok.all()
  assert ms.tolist() == [_scalar(t) for t in texts]

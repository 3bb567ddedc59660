"""The line-shape scan: the C scan equals the regex fallback on lines near
and far from the shape, and each span it gives decodes (by orjson) to the
line's value."""
import json

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.vectorized import shape
from transforms.vectorized.shape import (REQUIRED, SPANNED, scan_lines,
                                         scan_lines_regex)

# Value texts around the shape's edges: what V and S accept and what they
# just miss (escapes, a leading ':', control and non-ASCII bytes, numbers
# JSON does not allow, near-literals).
EDGE_TEXTS = [
    '"a"', '""', '":a"', '"a:b"', '" "', '"a\\"b"', '"\\u0041"', '"a\tb"',
    '"é"', '"~"', '"\x7f"', '"\x00"', '0', '-0', '01', '-01', '1.', '.5',
    '1.5', '-1.25e+3', '1E5', '1e', '1e+', '1.e5', '-', '--1', '+1', 'null',
    'nul', 'nulll', 'true', 'True', 'false', 'fals', '[]', '{}', '"a"x',
    '"a', ' 1', '1 ', '"12"', '12345', '"2024-01-01T00:00:00Z"', '"USD"',
    '1700000000000', '"}"', '","', '"\\\\"']
VALUE_TEXTS = st.one_of(
    st.sampled_from(EDGE_TEXTS),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x80),
            max_size=6).map(lambda t: '"' + t + '"'),
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
)

KEY_SETS = st.one_of(
    st.just(list(REQUIRED)),
    st.just(list(REQUIRED) + ['country']),
    st.just(list(REQUIRED) + ['channel']),
    st.just(list(REQUIRED) + ['country', 'channel']),
    st.just(list(REQUIRED) + ['channel', 'country']),
    st.permutations(list(REQUIRED)),
    st.lists(st.sampled_from(list(SPANNED) + ['channel', 'x', 'order_id ']),
             max_size=10),
)


@st.composite
def lines(draw):
  """A line: an object of drawn keys and values, perhaps then edited."""
  keys = draw(KEY_SETS)
  text = '{' + ','.join(f'"{k}":{draw(VALUE_TEXTS)}' for k in keys) + '}'
  edit = draw(st.sampled_from(['', '', '', 'space', 'cr', 'cut', 'tail']))
  if edit == 'space' and len(text) > 2:
    i = draw(st.integers(1, len(text) - 1))
    text = text[:i] + ' ' + text[i:]
  elif edit == 'cr':
    text += '\r'
  elif edit == 'cut':
    text = text[:draw(st.integers(0, len(text)))]
  elif edit == 'tail':
    text += draw(st.sampled_from(['}', ',', ' ', 'x']))
  return text.encode()


def assert_same(data: bytes) -> shape.Lines:
  got, expected = scan_lines(data), scan_lines_regex(data)
  for name in shape.Lines._fields:
    a, b = getattr(got, name), getattr(expected, name)
    assert a.shape == b.shape and np.array_equal(a, b), name
  return got


def test_the_c_scan_is_built():
  """setup.py builds it on a machine with a C compiler (this one): else
  the tests below would compare the fallback with itself."""
  assert shape.NATIVE


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), max_size=8), st.booleans())
def test_the_c_scan_equals_the_regex(body, final_newline):
  data = b'\n'.join(body) + (b'\n' if final_newline and body else b'')
  scanned = assert_same(data)
  # Every shaped line: each span decodes to the line's value of that key.
  for k, row in enumerate(scanned.rows.tolist()):
    line = data[scanned.starts[row]:scanned.ends[row]]
    obj = orjson.loads(line)
    for j, key in enumerate(SPANNED):
      value = data[scanned.begins[j, k]:scanned.stops[j, k]]
      if key in obj:
        assert orjson.loads(value) == obj[key]
      else:
        assert value == b'' and data[scanned.begins[j, k]] == ord('}')


def test_each_edge_value_in_each_slot():
  """Every edge text as each key's value of an otherwise shaped line."""
  keys = list(REQUIRED) + ['country', 'channel']
  body = []
  for slot in range(len(keys)):
    for text in EDGE_TEXTS:
      values = ['"v"'] * len(keys)
      values[slot] = text
      body.append(('{' + ','.join(f'"{k}":{v}' for k, v in zip(keys, values))
                   + '}').encode())
  scanned = assert_same(b'\n'.join(body))
  assert 0 < len(scanned.rows) < len(body)


def test_line_extents_and_shapes_of_a_small_chunk():
  good = ('{' + ','.join(f'"{k}":"v{i}"' for i, k in enumerate(REQUIRED))
          + '}').encode()
  with_country = good[:-1] + b',"country":"DE"}'
  data = b'\n'.join([good, b'', b'{"a":1}', with_country, good + b' ', good])
  scanned = assert_same(data)
  assert scanned.starts.tolist() == [
      0, len(good) + 1, len(good) + 2, len(good) + 10,
      len(good) + 11 + len(with_country), 2 * len(good) + 13 +
      len(with_country)]
  assert scanned.ends[-1] == len(data)
  assert scanned.rows.tolist() == [0, 3, 5]
  country = SPANNED.index('country')
  assert [data[b:e] for b, e in zip(scanned.begins[country],
                                    scanned.stops[country])] == [
                                        b'', b'"DE"', b'']


def test_empty_and_newline_only_chunks():
  for data in (b'', b'\n', b'\n\n'):
    scanned = assert_same(data)
    assert len(scanned.starts) == data.count(b'\n')
    assert len(scanned.rows) == 0

"""Re-timing a file (tools/retime.py) keeps every gap and every dirty line.

The oracle is tests/reference.py's independent validator: each record of
the re-timed sample must be what it was (the same reason if dead, the same
fields if valid) with its event time moved by the one offset.
"""
import dataclasses
import os
import time

import pytest

from tests.reference import Invalid, load_fx, read_payloads, validate
from tools.retime import (RetimeError, line_event_ms, offset_to, read_lines,
                          retime_line, retime_lines, target_ms)

ROOT = os.path.dirname(os.path.dirname(__file__))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')
FX = load_fx(os.path.join(ROOT, 'data', 'fx_rates.csv'))
HOUR_MS = 3_600_000


def _outcomes(path):
  out = []
  for position, payload in read_payloads(path):
    try:
      out.append(('valid', validate(payload, FX, '', position)))
    except Invalid as e:
      out.append((e.reason, payload))
  return out


@pytest.mark.parametrize('to', ['2031-06-15T12:34:56Z',
                                '2026-01-01T00:00:00+05:30'])
def test_every_record_keeps_its_fate_and_moves_by_one_offset(tmp_path, to):
  with open(SAMPLE, 'rb') as f:
    lines = f.read().split(b'\n')
  moved = retime_lines(lines, to)
  path = tmp_path / 'moved.jsonl'
  path.write_bytes(b'\n'.join(moved))
  before, after = _outcomes(SAMPLE), _outcomes(str(path))
  assert len(before) == len(after) == 3000

  shifts = set()
  for (fate, old), (fate_after, new) in zip(before, after):
    assert fate == fate_after
    if fate == 'valid':
      shifts.add(new.event_ms - old.event_ms)
      assert dataclasses.replace(new, event_ms=0) == dataclasses.replace(
          old, event_ms=0)
  assert len(shifts) == 1, shifts  # every gap kept
  shift = shifts.pop()
  assert shift % HOUR_MS == 0  # hourly windows keep their contents
  newest = max(o.event_ms for fate, o in after if fate == 'valid')
  assert target_ms(to) - HOUR_MS <= newest < target_ms(to)

  # Lines without a valid event time are left byte for byte.
  untimed = ('bad_time', 'missing_field:event_time', 'malformed')
  pairs = zip([l for l in lines if l.strip()], [l for l in moved if l.strip()],
              before)
  unchanged = [old == new for old, new, (fate, _) in pairs if fate in untimed]
  assert len(unchanged) >= 20 and all(unchanged)
  assert len(moved) == len(lines)  # blank lines too


def test_each_form_of_event_time_keeps_its_form():
  cases = {
      b'{"event_time":1793577600000,"order_id":"a"}':
          b'{"event_time":1793581200000,"order_id":"a"}',
      b'{"event_time":" 1793577600000 ","x":1}':
          b'{"event_time":" 1793581200000 ","x":1}',
      b'{"event_time":"2026-11-02T23:30:00Z"}':
          b'{"event_time":"2026-11-03T00:30:00Z"}',
      b'{"event_time": "2026-11-02T10:00:00.250+05:30"}':
          b'{"event_time": "2026-11-02T11:00:00.250+05:30"}',
      b'{"event_time":"2026-03-08T01:30:00-05:00"}':
          b'{"event_time":"2026-03-08T02:30:00-05:00"}',
  }
  for line, expected in cases.items():
    assert retime_line(line, HOUR_MS) == expected
  for dirty in (b'{"event_time":"2026-11-02T10:00:00"}',  # no offset
                b'{"event_time":1793577600000.5}', b'{"event_time":true}',
                b'{"event_time":null}', b'{"order_id":"a"}', b'[1,2]',
                b'{"event_time":"now"}', b'{"event_time":17935776',
                b'{"event_time":1,"event_time":2}'):
    assert retime_line(dirty, HOUR_MS) == dirty


def test_a_file_without_event_times_or_a_bad_target_is_an_error():
  with pytest.raises(RetimeError):
    offset_to([b'{"event_time":null}', b'not json'], 0)
  with pytest.raises(RetimeError):
    target_ms('yesterday')
  with pytest.raises(RetimeError):
    retime_line(b'{"event_time":1000}', -2000)


def test_the_replay_tools_read_lines_moved_to_now():
  before = time.time() * 1000
  lines = read_lines(SAMPLE, 'now')
  assert len(lines) == 3000  # blank lines dropped
  newest = max(t for t in (line_event_ms(l.encode()) for l in lines)
               if t is not None)
  assert before - HOUR_MS <= newest < time.time() * 1000

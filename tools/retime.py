"""Re-time a JSON Lines file of order events: every event time moves by one
offset, so that a replay of an old file looks like live traffic.

    python -m tools.retime --input data/sample/orders.jsonl --to now \\
        --out /tmp/live.jsonl

Streaming runs judge lateness against a watermark that follows the clock
once a partition is idle; an old file replayed today is all late. Moving
every event by the same whole number of ``step`` seconds (default one hour,
so hourly windows keep their contents) keeps every gap, every bit of
disorder and every duplicate, and ends the file just before ``--to``.

Only the ``event_time`` value of a line changes, in its own form: epoch
milliseconds as a number or a string stay so, an ISO-8601 time keeps its
offset (or ``Z``) and its precision. A line whose event time is not valid
(dirty, blank, absent, a line that is not JSON) is left byte for byte, so
it becomes the same dead letter. The replay tools (``tools.replay_to_kafka
--retime now``, ``services.pubsub.admin publish --retime now``) use it.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import re
import sys
import time
from typing import Iterable, List, Optional

from transforms.event_time import MAX_EPOCH_MS, BadTime, parse_event_time_ms

DEFAULT_STEP_SECONDS = 3600
_KEY = re.compile(rb'"event_time"\s*:\s*')
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NUMBER = re.compile(rb'-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')
_FRACTION = re.compile(r'T\d\d:\d\d:\d\d\.(\d+)')


class RetimeError(ValueError):
  """The file cannot be moved as asked (no event time, out of range)."""


def _value_span(line: bytes) -> Optional[tuple]:
  """(start, stop) of the event_time value's JSON token, if the key occurs
  exactly once and its value is a string or a number."""
  keys = list(_KEY.finditer(line))
  if len(keys) != 1:
    return None
  at = keys[0].end()
  token = _STRING.match(line, at) or _NUMBER.match(line, at)
  return (at, token.end()) if token else None


def line_event_ms(line: bytes) -> Optional[int]:
  """The valid event time of a line (what the pipeline would read), or None."""
  try:
    record = json.loads(line)
  except ValueError:
    return None
  if not isinstance(record, dict) or _value_span(line) is None:
    return None
  try:
    return parse_event_time_ms(record.get('event_time'))
  except BadTime:
    return None


def _shift_iso(text: str, offset_ms: int) -> str:
  core = text.strip()
  moment = datetime.datetime.fromisoformat(core)
  moved = moment + datetime.timedelta(milliseconds=offset_ms)
  fraction = _FRACTION.search(core)
  digits = len(fraction.group(1)) if fraction else 0
  spec = ('seconds' if digits == 0 else
          'milliseconds' if digits <= 3 else 'microseconds')
  rendered = moved.isoformat(timespec=spec)
  if core.endswith(('Z', 'z')):
    rendered = rendered[:-len('+00:00')] + core[-1]
  lead = text[:len(text) - len(text.lstrip())]
  trail = text[len(text.rstrip()):]
  return lead + rendered + trail


def _shift_value(value, offset_ms: int):
  if isinstance(value, int):
    return value + offset_ms
  text = value.strip()
  if text.isascii() and text.isdigit():
    return value.replace(text, str(int(text) + offset_ms))
  return _shift_iso(value, offset_ms)


def retime_line(line: bytes, offset_ms: int) -> bytes:
  """The line with its valid event time moved by offset_ms; any other line
  unchanged. Raises RetimeError if the moved time is out of range."""
  return _moved(line, line_event_ms(line), offset_ms)


def _moved(line: bytes, event_ms: Optional[int], offset_ms: int) -> bytes:
  """retime_line for a line whose valid event time (or None) is known."""
  if event_ms is None or offset_ms == 0:
    return line
  if not 0 <= event_ms + offset_ms <= MAX_EPOCH_MS:
    raise RetimeError(f'moving {event_ms} ms by {offset_ms} ms leaves the '
                      'range of event times')
  start, stop = _value_span(line)
  value = json.loads(line[start:stop])
  moved = json.dumps(_shift_value(value, offset_ms)).encode('utf-8')
  return line[:start] + moved + line[stop:]


def target_ms(to: str) -> int:
  """`now`, or an ISO-8601 time with offset / epoch milliseconds."""
  if to == 'now':
    return int(time.time() * 1000)
  try:
    return parse_event_time_ms(to)
  except BadTime as e:
    raise RetimeError(f'--retime {to!r}: use now or an ISO-8601 time with '
                      f'an offset ({e})') from None


def offset_to(lines: Iterable[bytes], to_ms: int,
              step_seconds: int = DEFAULT_STEP_SECONDS) -> int:
  """The whole number of steps that moves the newest valid event time to
  within one step before to_ms."""
  return _offset(map(line_event_ms, lines), to_ms, step_seconds)


def _offset(event_times: Iterable[Optional[int]], to_ms: int,
            step_seconds: int) -> int:
  times = [t for t in event_times if t is not None]
  if not times:
    raise RetimeError('no line has a valid event time to move')
  step_ms = step_seconds * 1000
  return (to_ms - max(times) - 1) // step_ms * step_ms


def retime_lines(lines: List[bytes], to: str,
                 step_seconds: int = DEFAULT_STEP_SECONDS) -> List[bytes]:
  """Every line moved so the file ends just before `to` (see offset_to)."""
  times = [line_event_ms(line) for line in lines]  # each line parsed once
  offset = _offset(times, target_ms(to), step_seconds)
  return [_moved(line, t, offset) for line, t in zip(lines, times)]


def read_lines(path: str, retime: Optional[str] = None,
               step_seconds: int = DEFAULT_STEP_SECONDS) -> List[str]:
  """The non-blank lines of a JSON Lines file (.gz ok), without line ends,
  moved to end just before `retime` (now, or a time) when it is given."""
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rb') as f:
    lines = [line.rstrip(b'\r\n') for line in f if line.strip()]
  if retime:
    lines = retime_lines(lines, retime, step_seconds)
  return [line.decode('utf-8') for line in lines]


def add_retime_flag(parser: argparse.ArgumentParser) -> None:
  """The --retime flag of the replay tools."""
  parser.add_argument(
      '--retime', default=None, metavar='now|TIME',
      help='move every event time by one offset (whole hours) so the file '
      'ends just before now or TIME; gaps, disorder and dirty lines are kept '
      '(see tools/retime.py)')


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m tools.retime', description=__doc__.split('\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--input', required=True, help='JSON Lines file')
  parser.add_argument('--out', required=True, help='where to write')
  parser.add_argument('--to', default='now',
                      help='now, or an ISO-8601 time with an offset')
  parser.add_argument('--step-seconds', type=int,
                      default=DEFAULT_STEP_SECONDS,
                      help='move by whole multiples of this')
  args = parser.parse_args(argv)
  try:
    with open(args.input, 'rb') as f:
      lines = f.read().split(b'\n')
    moved = retime_lines(lines, args.to, args.step_seconds)
  except (OSError, RetimeError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  with open(args.out, 'wb') as f:
    f.write(b'\n'.join(moved))
  return 0


if __name__ == '__main__':
  sys.exit(main())

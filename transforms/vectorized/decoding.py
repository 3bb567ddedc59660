"""Records decoded with orjson, and when the record path's decoder must
decide instead (columns.check_chunk then uses parse.decode_payload).

orjson is faster than the record path's json.loads but not the same
decoder: it rejects some texts json accepts (UNDECODED), and reads an
integer beyond 64 bits as a float (`lossy_decoding`).
"""
from __future__ import annotations

from typing import Any, Iterable, List, Sequence, Tuple

import orjson

UNDECODED = object()  # orjson failed: decode with the record path's decoder


def decode_one(payload: bytes) -> Any:
  """The payload decoded with orjson, or UNDECODED (the record path's
  decoder then decides)."""
  try:
    return orjson.loads(payload)
  except orjson.JSONDecodeError:
    return UNDECODED


def decode_each(payloads: Sequence[bytes]) -> List[Any]:
  """Each payload decoded (decode_one); a blank payload is `malformed`,
  not skipped."""
  return [decode_one(payload) for payload in payloads]


_INT64_LIMIT = float(1 << 63)
_MAYBE_LOSSY = (float, list, dict)


def lossy_decoding(record: Any) -> bool:
  """Whether orjson may have decoded a record differently from the record
  path's decoder: orjson reads an integer beyond 64 bits as a float, at any
  depth, which would turn `out_of_range` into `bad_type` or change a
  detail's text; such records are re-decoded with `decode_payload`."""
  if type(record) is not dict:
    return False
  stack = [v for v in record.values() if type(v) in _MAYBE_LOSSY]
  while stack:
    value = stack.pop()
    kind = type(value)
    if kind is float:
      if abs(value) >= _INT64_LIMIT:
        return True
    elif kind is list:
      stack.extend(v for v in value if type(v) in _MAYBE_LOSSY)
    else:
      stack.extend(v for v in value.values() if type(v) in _MAYBE_LOSSY)
  return False


def decode_jsonl(data: bytes, first_line: int
                 ) -> Tuple[List[Any], List[int], List[bytes]]:
  """Decodes the lines of a chunk; blank lines are skipped, not counted.

  Returns (objects, line numbers, raw lines); an object is UNDECODED when orjson
  rejected the line.
  """
  lines = data.split(b'\n')
  if lines and not lines[-1]:
    lines.pop()
  return decode_numbered(enumerate(lines, start=first_line))


def decode_numbered(numbered: Iterable[Tuple[int, bytes]]
                     ) -> Tuple[List[Any], List[int], List[bytes]]:
  """(line number, raw line) pairs -> (objects, line numbers, raw lines);
  blank lines are skipped."""
  objs: List[Any] = []
  numbers: List[int] = []
  raws: List[bytes] = []
  for number, line in numbered:
    obj = decode_one(line)
    if obj is UNDECODED and not line.strip():
      continue
    objs.append(obj)
    numbers.append(number)
    raws.append(line)
  return objs, numbers, raws

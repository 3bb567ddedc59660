"""Pseudonymized customers (DESIGN.md, Privacy; docs/security.md).

With `--pseudonymize_key env:NAME | file:PATH`, the parse step replaces
every `customer_id` by a keyed pseudonym before anything leaves it:

    pseudonym(id) = 'c_' + hex(HMAC-SHA256(key, UTF-8 of the stripped id))[:32]

The id is the one the validation rule produces (stripped of surrounding
white space), so one customer has one pseudonym, and the same key gives the
same pseudonyms in every run. 128 bits: among a billion customers the odds
that two share a pseudonym are about 1 in 10^21, so distinct-customer
counts and sessions are those of the raw ids.

Dead letters are rewritten by `dead_letter`: a payload that is a JSON object
(JSON text, or a CSV, Avro or Parquet record, which dead letters carry as a
JSON object) gets its top-level `customer_id` replaced the same way and is
written again as JSON (sorted keys); any other payload
(not decodable, or not an object) cannot be searched for an id and is
replaced by a marker with a keyed digest of it (never the raw text).

The key is a secret: it is never in a flag's value (only where to read it),
never printed (`repr` names the source), never logged.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse import decode_payload, payload_text
from transforms.records import DeadLetter

__all__ = ['PseudonymKeyError', 'Pseudonymizer', 'PREFIX', 'HEX_CHARS',
           'MIN_KEY_BYTES', 'load_key', 'from_flag']

PREFIX = 'c_'
HEX_CHARS = 32  # 16 bytes of the HMAC-SHA256 digest
MIN_KEY_BYTES = 16
FIELD = 'customer_id'
FLAG = '--pseudonymize_key'
REDACTED = '[redacted: not a JSON object; digest p_{}]'


class PseudonymKeyError(ValueError):
  """A key source that cannot be used: one line, never the key itself."""


def load_key(source: str, environ: Optional[dict] = None) -> bytes:
  """The key named by `env:NAME` or `file:PATH`.

  A file must not be readable by group or others (like an SSH key); one
  trailing newline (\\n or \\r\\n) is dropped. A key shorter than
  MIN_KEY_BYTES is refused: customer ids are few and guessable, so the key
  is the only thing that keeps a pseudonym from being reversed.
  """
  environ = os.environ if environ is None else environ
  kind, _, name = source.partition(':')
  if kind == 'env' and name:
    if name not in environ:
      raise PseudonymKeyError(f'{FLAG}: environment variable {name} is not '
                              'set')
    key = environ[name].encode('utf-8', 'surrogateescape')
  elif kind == 'file' and name:
    key = _read_key_file(name)
  else:
    raise PseudonymKeyError(f'{FLAG} must be env:NAME or file:PATH')
  if not key:
    raise PseudonymKeyError(f'{FLAG}: the key from {source} is empty')
  if len(key) < MIN_KEY_BYTES:
    raise PseudonymKeyError(f'{FLAG}: the key from {source} is shorter than '
                            f'{MIN_KEY_BYTES} bytes')
  return key


def _read_key_file(path: str) -> bytes:
  """A key file's bytes without one trailing newline; refused when group or
  others may read it."""
  try:
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
      raise PseudonymKeyError(
          f'{FLAG}: {path} is open to group or others (mode '
          f'{stat.filemode(mode)}); chmod 600 it')
    with open(path, 'rb') as f:
      key = f.read()
  except OSError as e:
    raise PseudonymKeyError(
        f'{FLAG}: cannot read {path}: {e.strerror}') from None
  if key.endswith(b'\r\n'):
    return key[:-2]
  return key[:-1] if key.endswith(b'\n') else key


class Pseudonymizer:
  """Keyed pseudonyms of customer ids, for one key.

  `one(id)` for a str, `ids(column)` for an Arrow string column (each
  distinct id hashed once), `dead_letter(letter)` for a DeadLetter.
  """

  def __init__(self, key: bytes, source: str = 'a key') -> None:
    if not key:
      raise PseudonymKeyError(f'{FLAG}: the key is empty')
    self._key = bytes(key)
    self._source = source
    self._mac = hmac.new(self._key, digestmod=hashlib.sha256)

  def __repr__(self) -> str:  # never the key
    return f'Pseudonymizer({self._source})'

  def __getstate__(self) -> dict:
    return {'key': self._key, 'source': self._source}

  def __setstate__(self, state: dict) -> None:
    self.__init__(state['key'], state['source'])

  def _digest(self, data: bytes) -> str:
    mac = self._mac.copy()
    mac.update(data)
    return mac.hexdigest()[:HEX_CHARS]

  def one(self, customer_id: str) -> str:
    """The pseudonym of a validated (stripped) customer id."""
    return PREFIX + self._digest(
        customer_id.encode('utf-8', 'surrogatepass'))

  def ids(self, column: pa.Array) -> pa.Array:
    """one() of every value of a string column (nulls stay null)."""
    if isinstance(column, pa.ChunkedArray):
      column = column.combine_chunks()
    if len(column) == 0:
      return pa.array([], pa.string())
    encoded = pc.dictionary_encode(column)
    names = pa.array([None if v is None else self.one(v)
                      for v in encoded.dictionary.to_pylist()], pa.string())
    return names.take(encoded.indices)

  def dead_letter(self, letter: DeadLetter) -> DeadLetter:
    """The dead letter with its payload's customer id replaced, or the
    payload redacted. Its detail is kept: no rule's detail names the
    customer id (tests/transforms/test_pseudonymize.py holds that)."""
    try:
      record = decode_payload(letter.payload)
    except (ValueError, RecursionError):
      record = None
    if not isinstance(record, dict):
      digest = self._digest(letter.payload.encode('utf-8', 'surrogatepass'))
      return letter._replace(payload=REDACTED.format(digest))
    value = record.get(FIELD)
    if value is None or (isinstance(value, str) and not value.strip()):
      return letter  # no customer id to hide
    raw = value.strip() if isinstance(value, str) else _json_text(value)
    record[FIELD] = self.one(raw)
    return letter._replace(payload=payload_text(record))


def _json_text(value: Any) -> str:
  """A non-string customer_id (a number, an object) as its JSON text."""
  try:
    return json.dumps(value, sort_keys=True, default=str)
  except ValueError:  # an int beyond Python's digit limit
    return payload_text({'v': value})


def from_flag(source: str) -> Optional[Pseudonymizer]:
  """The Pseudonymizer of a --pseudonymize_key value ('' = none)."""
  if not source:
    return None
  return Pseudonymizer(load_key(source), source)

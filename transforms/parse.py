"""Parse and validate: RawRecord -> Order (main output) or DeadLetter.

This is the 'clean' step's first half. Every record read is counted here
(`records_read`), and every record leaves as exactly one valid Order or one
DeadLetter: nothing is dropped silently.
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, Union

import apache_beam as beam
from apache_beam.transforms import window

from transforms import metrics
from transforms.lateness import LateDataRule
from transforms.records import DeadLetter, Order, RawRecord
from transforms.validate import Rejection, check_order

if TYPE_CHECKING:  # pseudonymize.py builds on this module's decoder
  from transforms.pseudonymize import Pseudonymizer

_LOG = logging.getLogger(__name__)

DEAD_LETTERS = 'dead_letters'
VALID = 'valid'


def payload_text(payload: Union[bytes, str, Dict[str, Any]]) -> str:
  """The payload as text for a dead letter: nothing is lost, never raises."""
  if isinstance(payload, bytes):
    return payload.decode('utf-8', errors='replace')
  if isinstance(payload, str):
    return payload
  try:
    return json.dumps(payload, default=str, sort_keys=True)
  except ValueError:  # an int beyond Python's digit limit
    return json.dumps(_printable(payload), default=str, sort_keys=True)


def _printable(value: Any) -> Any:
  """The value with every int beyond 64 bits written by its size."""
  if isinstance(value, dict):
    return {str(k): _printable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_printable(v) for v in value]
  if isinstance(value, int) and value.bit_length() > 64:
    return f'<an integer of {value.bit_length()} bits>'
  return value


_LONG_INT = 4000  # below Python's digit limit (sys.get_int_max_str_digits)


def exact_int(text: str) -> int:
  """A JSON integer's value: int() of a text beyond Python's digit limit
  raises, and converting one is quadratic. Every field's range ends far
  below 4000 digits, so a longer integer becomes one of its sign and
  binary magnitude (out of every range; the payload keeps its text)."""
  if len(text) <= _LONG_INT:
    return int(text)
  digits = len(text.lstrip('-').lstrip('0'))
  magnitude = 1 << (digits * 3322 // 1000)  # ~ 10 ** (digits - 1)
  return -magnitude if text.startswith('-') else magnitude


def decode_payload(payload: Union[bytes, str, Dict[str, Any]]) -> Any:
  """Decodes a JSON text payload; dicts (Avro, Parquet, CSV) pass through.

  A JSON integer of any length is a number (its field's rules then decide),
  not a decoding failure. Raises ValueError for text that is not valid
  UTF-8 JSON.
  """
  if isinstance(payload, dict):
    return payload
  if isinstance(payload, bytes):
    payload = payload.decode('utf-8')  # UnicodeDecodeError is a ValueError
  return json.loads(payload, parse_int=exact_int)


def dead_letter(raw: RawRecord, reason: str, detail: str) -> DeadLetter:
  return DeadLetter(
      reason=reason,
      detail=detail,
      payload=payload_text(raw.payload),
      source=raw.source,
      partition=raw.partition,
      position=raw.position)


class ParseOrderFn(beam.DoFn):
  """Turns each RawRecord into an event-timestamped Order or a DeadLetter.

  With a pseudonymizer, customer ids leave as pseudonyms, in orders and in
  dead letters (transforms/pseudonymize.py).
  """

  def __init__(self, event_time_from: str = 'payload',
               late_rule: Optional[LateDataRule] = None,
               pseudonymizer: Optional['Pseudonymizer'] = None) -> None:
    self._use_transport_time = event_time_from == 'transport'
    self._late_rule = late_rule
    self._pseudonymizer = pseudonymizer
    self._read = metrics.counter(metrics.RECORDS_READ)
    self._progress = metrics.ReadProgress()
    self._valid = metrics.counter(metrics.RECORDS_VALID)

  def process(self, raw: RawRecord, currencies: Dict[str, Any]
              ) -> Iterable[Union[Order, beam.pvalue.TaggedOutput]]:
    self._read.inc()
    self._progress.add(1)
    if raw.decode_error is not None:
      yield self._reject(raw, Rejection('malformed', raw.decode_error))
      return
    try:
      record = decode_payload(raw.payload)
    except (ValueError, RecursionError) as e:
      yield self._reject(raw, Rejection('malformed', str(e)[:200]))
      return
    override: Optional[int] = None
    if self._use_transport_time:
      override = raw.transport_time_ms
    result = check_order(record, currencies, raw.source, raw.partition,
                         raw.position, override)
    if isinstance(result, Rejection):
      yield self._reject(raw, result)
      return
    if self._late_rule is not None:
      late = self._late_rule.check(result.event_time_ms,
                                   raw.source_watermark_ms)
      if late is not None:
        yield self._reject(raw, late)
        return
    self._valid.inc()
    if self._pseudonymizer is not None:
      result = result._replace(
          customer_id=self._pseudonymizer.one(result.customer_id))
    yield window.TimestampedValue(result, result.event_time_ms / 1000.0)

  def _reject(self, raw: RawRecord,
              rejection: Rejection) -> beam.pvalue.TaggedOutput:
    metrics.dead_letter_counter(rejection.reason).inc()
    letter = dead_letter(raw, rejection.reason, rejection.detail)
    if self._pseudonymizer is not None:
      letter = self._pseudonymizer.dead_letter(letter)
    return beam.pvalue.TaggedOutput(DEAD_LETTERS, letter)


@beam.ptransform_fn
def ParseOrders(  # pylint: disable=invalid-name  (a PTransform's name)
    raw_records: beam.PCollection, fx_rates: beam.pvalue.AsSideInput,
    event_time_from: str = 'payload',
    late_rule: Optional[LateDataRule] = None,
    pseudonymizer: Optional['Pseudonymizer'] = None
) -> beam.pvalue.DoOutputsTuple:
  """PCollection[RawRecord] -> {'valid': Order, 'dead_letters': DeadLetter}.

  Valid orders are timestamped with their event time. `fx_rates` is a side
  input (AsDict view: currency -> rate), needed for `unknown_currency`.
  With a `late_rule`, records beyond the allowed lateness of the source's
  watermark become dead letters with reason `late` (transforms/lateness.py).
  With a `pseudonymizer`, every customer id leaves as its pseudonym.
  """
  return raw_records | 'ValidateRecords' >> beam.ParDo(
      ParseOrderFn(event_time_from, late_rule, pseudonymizer),
      currencies=fx_rates).with_outputs(DEAD_LETTERS, main=VALID)

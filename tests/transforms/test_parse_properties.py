"""Property tests: arbitrary bytes and JSON never crash the parser, and
every record comes out exactly once, as an order or as a dead letter."""
import json
from decimal import Decimal

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import BASE_ORDER
from transforms.parse import DEAD_LETTERS, VALID, ParseOrderFn, ParseOrders
from transforms.records import DeadLetter, Order, RawRecord

RATES = {'USD': Decimal(1), 'EUR': Decimal('1.1')}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() |
    st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)

# Orders whose fields are each replaced by an arbitrary JSON value, so the
# field rules are exercised, not just the JSON decoder.
mutated_orders = st.fixed_dictionaries({
    name: st.one_of(st.just(value), json_values)
    for name, value in BASE_ORDER.items()
})

payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_orders.map(lambda v: json.dumps(v).encode()),
    mutated_orders,  # decoded dicts, as Avro/Parquet/CSV deliver them
)


def outcome(element):
  value = getattr(element, 'value', element)
  if isinstance(element, beam.pvalue.TaggedOutput):
    assert element.tag == DEAD_LETTERS
    assert isinstance(value, DeadLetter)
    assert value.reason
    return 'dead'
  assert isinstance(value, Order)
  return 'valid'


@settings(max_examples=400, deadline=None)
@given(payloads)
def test_one_record_in_exactly_one_outcome_out(payload):
  fn = ParseOrderFn()
  outputs = list(fn.process(RawRecord(payload, 'p', None, 1), RATES))
  assert len(outputs) == 1
  outcome(outputs[0])


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads, min_size=1, max_size=40))
def test_the_pipeline_accounts_for_every_record(batch):
  records = [RawRecord(p, 'p', None, i) for i, p in enumerate(batch, 1)]
  with TestPipeline(runner='FnApiRunner') as p:
    fx = beam.pvalue.AsDict(p | 'Fx' >> beam.Create(sorted(RATES.items())))
    parsed = (p | beam.Create(records, reshuffle=False)
              | ParseOrders(fx))
    positions = ((parsed[VALID] | 'ValidPos' >> beam.Map(lambda o: o.position),
                  parsed[DEAD_LETTERS] | 'DeadPos' >> beam.Map(
                      lambda d: d.position))
                 | beam.Flatten())
    assert_that(positions, equal_to(list(range(1, len(batch) + 1))))

"""The field rules, one reason at a time (docs/semantics.md, Validation)."""
from decimal import Decimal

import pytest

from tests.helpers import order
from transforms.event_time import BadTime, format_utc_ms, parse_event_time_ms
from transforms.records import Order
from transforms.validate import FIELD_NAMES, Rejection, check_order

RATES = {'USD': Decimal(1), 'EUR': Decimal('1.0843')}


def check(record):
  return check_order(record, RATES, 'f.jsonl', None, 7)


def test_field_list_comes_from_the_avro_schema():
  assert FIELD_NAMES == ('order_id', 'customer_id', 'product_id', 'quantity',
                         'unit_price', 'currency', 'event_time', 'country')


def test_valid_order_is_normalized():
  result = check(order(currency=' eur ', country='de', quantity='3',
                       unit_price=12.5, order_id='  o-9 '))
  assert isinstance(result, Order)
  assert result.order_id == 'o-9'
  assert result.currency == 'EUR'
  assert result.country == 'DE'
  assert result.quantity == 3
  assert result.unit_price == Decimal('12.5')
  assert result.event_time_ms == 1793614500000
  assert (result.source, result.partition, result.position) == ('f.jsonl',
                                                                None, 7)


@pytest.mark.parametrize('record, reason', [
    ([1, 2], 'malformed'),
    ('text', 'malformed'),
    (order(order_id=...), 'missing_field:order_id'),
    (order(order_id=None), 'missing_field:order_id'),
    (order(order_id='  '), 'missing_field:order_id'),
    (order(customer_id=''), 'missing_field:customer_id'),
    (order(product_id=...), 'missing_field:product_id'),
    (order(quantity=...), 'missing_field:quantity'),
    (order(unit_price=None), 'missing_field:unit_price'),
    (order(currency=''), 'missing_field:currency'),
    (order(event_time=...), 'missing_field:event_time'),
    (order(order_id=17), 'bad_type:order_id'),
    (order(customer_id=True), 'bad_type:customer_id'),
    (order(quantity=2.5), 'bad_type:quantity'),
    (order(quantity=3.0), 'bad_type:quantity'),
    (order(quantity='abc'), 'bad_type:quantity'),
    (order(quantity=True), 'bad_type:quantity'),
    (order(unit_price='abc'), 'bad_type:unit_price'),
    (order(unit_price='NaN'), 'bad_type:unit_price'),
    (order(unit_price='Infinity'), 'bad_type:unit_price'),
    (order(unit_price=False), 'bad_type:unit_price'),
    (order(currency=840), 'bad_type:currency'),
    (order(country='USA'), 'bad_type:country'),
    (order(country='1'), 'bad_type:country'),
    (order(quantity=0), 'out_of_range:quantity'),
    (order(quantity=10001), 'out_of_range:quantity'),
    (order(quantity='-2'), 'out_of_range:quantity'),
    (order(unit_price=0), 'out_of_range:unit_price'),
    (order(unit_price='-1'), 'out_of_range:unit_price'),
    (order(unit_price='1000000.01'), 'out_of_range:unit_price'),
    (order(currency='XYZ'), 'unknown_currency'),
    (order(event_time='2026-11-02T10:15:00'), 'bad_time'),
    (order(event_time='yesterday'), 'bad_time'),
    (order(event_time=1793614500000.5), 'bad_time'),
    (order(event_time=True), 'bad_time'),
    (order(event_time=-5), 'bad_time'),
])
def test_each_rule_gives_its_reason(record, reason):
  result = check(record)
  assert isinstance(result, Rejection)
  assert result.reason == reason


def test_first_failing_rule_in_schema_order_wins():
  result = check(order(customer_id=None, quantity=0, currency='XYZ'))
  assert result.reason == 'missing_field:customer_id'


def test_boundaries_are_inclusive():
  assert isinstance(check(order(quantity=1, unit_price='1000000')), Order)
  assert isinstance(check(order(quantity=10000, unit_price='0.01')), Order)


def test_absent_or_empty_country_is_none():
  assert check(order(country=...)).country is None
  assert check(order(country='')).country is None


@pytest.mark.parametrize('value, expected_ms', [
    ('2026-11-02T10:15:00Z', 1793614500000),
    ('2026-11-02T12:15:00+02:00', 1793614500000),
    ('2026-11-02T05:15:00.250-05:00', 1793614500250),
    (1793614500000, 1793614500000),
    ('1793614500000', 1793614500000),
])
def test_event_time_forms(value, expected_ms):
  assert parse_event_time_ms(value) == expected_ms


def test_event_time_rejects_naive_times():
  with pytest.raises(BadTime):
    parse_event_time_ms('2026-11-02 10:15:00')


def test_format_utc_ms_round_trips():
  assert format_utc_ms(1793614500000) == '2026-11-02T10:15:00Z'
  assert parse_event_time_ms(format_utc_ms(1793614500250)) == 1793614500250

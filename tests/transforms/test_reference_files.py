"""Issue #14, item 4: reference data and CSV input are checked before a run,
and fail in one line naming the file and line, never silently."""
import decimal
import gzip

import pytest

from transforms.currency import ConfigFileError, load_fx_rates, parse_fx_rates
from transforms.enrich import load_catalog, parse_catalog
from transforms.sources.files import (InputError, probe_file,
                                      read_file_records)
from transforms.vectorized.columns import prepare_rates
from transforms.vectorized.usd import amounts

D = decimal.Decimal
HEADER = 'order_id,customer_id,product_id,quantity,unit_price,currency,event_time'
ROW = 'o-1,c-1,P1,2,10.50,USD,2026-11-02T10:15:00Z'


def test_a_currency_listed_twice_names_both_lines():
  with pytest.raises(ConfigFileError) as e:
    parse_fx_rates('currency,usd_per_unit\nUSD,1\nEUR,1.1\nusd,2\n', 'fx.csv')
  assert str(e.value) == 'fx.csv:4: currency USD again (first on line 2)'


def test_an_empty_currency_is_refused():
  with pytest.raises(ConfigFileError, match=r'fx.csv:3: empty currency'):
    parse_fx_rates('currency,usd_per_unit\nUSD,1\n,2\n', 'fx.csv')


def test_a_rate_the_arrow_engine_cannot_hold_fails_before_the_run():
  with pytest.raises(ConfigFileError, match=r'fx.csv:3: rate .* more than 12'):
    parse_fx_rates('currency,usd_per_unit\nUSD,1\nXAU,0.0000000000001\n',
                   'fx.csv')
  with pytest.raises(ConfigFileError, match=r'more than 18 digits together'):
    parse_fx_rates('currency,usd_per_unit\nUSD,1\nBTC,12345678\n'
                   'XYZ,0.000000000001\n', 'fx.csv')


def test_every_rate_the_file_check_accepts_fits_the_arrow_engine():
  # 12 decimals, trailing zeros beyond them, 6 integer digits: all exact.
  rates = parse_fx_rates('currency,usd_per_unit\nUSD,1\nAAA,0.000000000001\n'
                         'BBB,1.50000000000000000\nCCC,999999\n')
  prepared = prepare_rates(rates)
  import pyarrow as pa
  table = pa.table({'currency': ['AAA', 'BBB', 'CCC'], 'quantity': [3, 3, 3],
                    'price': pa.array([D('1.5')] * 3, pa.decimal128(13, 6))})
  got = amounts(table, prepared).to_pylist()
  assert got == [3 * D('1.5') * rates[c] for c in ('AAA', 'BBB', 'CCC')]


def test_reference_files_may_start_with_a_byte_order_mark(tmp_path):
  fx = tmp_path / 'fx.csv'
  fx.write_bytes(b'\xef\xbb\xbfcurrency,usd_per_unit\nUSD,1\n')
  assert load_fx_rates(str(fx)) == {'USD': D(1)}
  catalog = tmp_path / 'catalog.csv'
  catalog.write_bytes(b'\xef\xbb\xbfproduct_id,category,name\nP1,toys,Ball\n')
  assert load_catalog(str(catalog)) == {'P1': ('toys', 'Ball')}


def test_a_product_listed_twice_names_both_lines():
  with pytest.raises(ConfigFileError) as e:
    parse_catalog('product_id,category,name\nP1,toys,Ball\nP2,home,Cup\n'
                  ' P1 ,books,Atlas\n', 'catalog.csv')
  assert str(e.value) == (
      "catalog.csv:4: product_id 'P1' again (first on line 2)")


@pytest.mark.parametrize('gz', [False, True])
def test_csv_input_with_a_byte_order_mark_reads_its_first_field(tmp_path, gz):
  data = ('\ufeff' + HEADER + '\n' + ROW + '\n').encode('utf-8')
  path = tmp_path / ('in.csv.gz' if gz else 'in.csv')
  path.write_bytes(gzip.compress(data) if gz else data)
  probe_file(str(path), 'csv')
  (record,) = read_file_records(str(path), 'csv')
  assert record.payload['order_id'] == 'o-1'


def test_a_csv_header_without_the_required_fields_fails_before_the_run(
    tmp_path):
  path = tmp_path / 'in.csv'
  path.write_text('id,customer,product_id,quantity,unit_price,currency,'
                  'event_time\n' + ROW + '\n')
  with pytest.raises(InputError) as e:
    probe_file(str(path), 'csv')
  assert str(e.value).startswith(
      f'{path}: the CSV header lacks order_id, customer_id (it has: id, ')
  with pytest.raises(InputError, match='header lacks order_id'):
    list(read_file_records(str(path), 'csv'))


def test_country_is_the_one_column_a_csv_header_may_leave_out(tmp_path):
  path = tmp_path / 'in.csv'
  path.write_text(HEADER + '\n' + ROW + '\n')
  probe_file(str(path), 'csv')
  assert len(list(read_file_records(str(path), 'csv'))) == 1
  empty = tmp_path / 'empty.csv'
  empty.write_text('')
  probe_file(str(empty), 'csv')
  assert list(read_file_records(str(empty), 'csv')) == []

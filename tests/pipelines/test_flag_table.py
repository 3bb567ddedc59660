"""pipelines/flags.toml, the one declaration of the pipeline's flags: the
table's checks (pipelines/flag_table.py) and the table against the parser,
--help and the defaults the code holds."""
import argparse
import ast
import fnmatch
import pathlib
import tomllib

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.flag_table import read_flags
from pipelines.flags import help_text
from pipelines.options import (DEFAULT_CATALOG, DEFAULT_FX_RATES,
                               DEFAULT_SOURCES, FLAG_TABLE, HELP_VALUES,
                               REDIS_RETENTION_S, ZMQ_IDLE_TIMEOUT_S,
                               SalesOptions, config_from_options)
from transforms.dedupe import DEFAULT_TTL_SECONDS
from transforms.mining.config import MiningConfig
from transforms.windowing import WindowPolicy

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = {'policy': WindowPolicy(), 'LIMIT': 7}
VALUES = {'kinds': 'a, b'}


def read(text):
  return read_flags(text, sources=SOURCES, help_values=VALUES, where='t.toml')


# ---------------------------------------------------------------------------
# The table's checks (pure logic)
# ---------------------------------------------------------------------------
def test_an_entry_becomes_one_add_argument_call():
  flags = read('''
[[flag]]
name = "--size"
aliases = ["--s"]
group = "Windows"
type = "float"
default_from = "policy.size_seconds"
help = "Size; kinds {kinds}."

[[flag]]
name = "--many"
group = "Windows"
action = "append"
help = "Many."
''')
  assert [f.names for f in flags] == [('--size', '--s'), ('--many',)]
  assert dict(flags[0].kwargs) == {
      'type': float, 'default': float(WindowPolicy().size_seconds),
      'help': 'Size; kinds a, b.'}
  assert isinstance(flags[0].kwargs['default'], float)
  assert dict(flags[1].kwargs) == {'action': 'append', 'help': 'Many.'}
  parser = argparse.ArgumentParser()
  for flag in flags:
    flag.add_to(parser)
  assert vars(parser.parse_args(['--s', '2', '--many', 'x'])) == {
      'size': 2.0, 'many': ['x']}


def test_a_store_true_flag_without_default_is_off_and_a_hidden_one_unlisted():
  flags = read('''
[[flag]]
name = "--on"
group = "G"
action = "store_true"
help = "On."

[[flag]]
name = "--secret"
group = "G"
default = "x"
hidden = true
''')
  parser = argparse.ArgumentParser()
  for flag in flags:
    flag.add_to(parser)
  assert vars(parser.parse_args([])) == {'on': False, 'secret': 'x'}
  assert '--secret' not in parser.format_help()


ENTRY = 'name = "--x"\ngroup = "G"\nhelp = "X."\n'


@pytest.mark.parametrize('extra, message', [
    ('defualt = 1', "flag 1 (--x): unknown key(s) ['defualt']"),
    ('type = "bool"', "flag 1 (--x): unknown type 'bool'"),
    ('action = "count"', "flag 1 (--x): unknown action 'count'"),
    ('default_from = "NOPE"', "unknown source 'NOPE' (known: LIMIT, policy)"),
    ('default_from = "policy.sizes"', "'policy.sizes': policy has no 'sizes'"),
    ('default = 1\ndefault_from = "LIMIT"', 'default or default_from'),
    ('type = "int"\ndefault = 1.5', 'default 1.5 is not a int'),
    ('type = "float"\ndefault = "2"', "default '2' is not a float"),
    ('action = "store_true"\ntype = "int"', 'store_true flag takes no type'),
    ('hidden = true', 'a hidden flag has no help text'),
    ('aliases = "--y"', 'aliases must be a list'),
])
def test_a_bad_entry_is_one_value_error_line(extra, message):
  with pytest.raises(ValueError) as raised:
    read(f'[[flag]]\n{ENTRY}{extra}\n')
  assert message in str(raised.value)
  assert str(raised.value).startswith('t.toml: flag 1 (--x): ')
  assert '\n' not in str(raised.value)


@pytest.mark.parametrize('text, message', [
    ('[[flag]]\ngroup = "G"\nhelp = "X."\n', 'name must be a non-empty'),
    ('[[flag]]\nname = "x"\ngroup = "G"\nhelp = "X."\n', 'like "--flag"'),
    ('[[flag]]\nname = "--x"\ngroup = "G"\n', 'help must be a non-empty'),
    ('[[flag]]\nname = "--x"\nhelp = "X."\n', 'group must be a non-empty'),
    (f'[[flag]]\n{ENTRY}[[flag]]\n{ENTRY}', '--x is flag 1 already'),
    ('[[flag]]\nname = "--x"\ngroup = "G"\nhelp = "{nope}"\n',
     'help inserts unknown {nope} (known: kinds)'),
    ('[[flag]]\nname = "--x"\ngroup = "G"\nhelp = "a {"\n',
     'help is not a format string'),
    ('[[flags]]\nname = "--x"\n', "unknown top-level key(s) ['flags']"),
    ('flag = 3\n', 'flag must be an array of tables'),
    ('[[flag]\n', 't.toml: not TOML'),
])
def test_a_bad_table_is_one_value_error_line(text, message):
  with pytest.raises(ValueError) as raised:
    read(text)
  assert message in str(raised.value)
  assert '\n' not in str(raised.value)


# ---------------------------------------------------------------------------
# flags.toml against the parser, --help and the code's defaults
# ---------------------------------------------------------------------------
def table():
  return tomllib.loads(FLAG_TABLE.read_text(encoding='utf-8'))['flag']


def parser_actions():
  parser = argparse.ArgumentParser(add_help=False)
  SalesOptions._add_argparse_args(parser)  # pylint: disable=protected-access
  return parser._actions  # pylint: disable=protected-access


def test_the_parser_has_the_tables_flags_in_its_order():
  names = [[entry['name'], *entry.get('aliases', [])] for entry in table()]
  assert names == [action.option_strings for action in parser_actions()]
  assert len(names) > 40


def test_each_flag_is_registered_as_its_entry_says():
  kinds = {None: argparse._StoreAction,  # pylint: disable=protected-access
           'store_true': argparse._StoreTrueAction,  # pylint: disable=protected-access
           'append': argparse._AppendAction}  # pylint: disable=protected-access
  types = {None: None, 'str': None, 'int': int, 'float': float}
  for entry, action in zip(table(), parser_actions()):
    assert type(action) is kinds[entry.get('action')], entry['name']
    assert action.type is types[entry.get('type')], entry['name']
    if entry.get('hidden'):
      assert action.help == argparse.SUPPRESS
    else:
      assert action.help == entry['help'].format_map(HELP_VALUES)
    if 'default' in entry:
      expected = entry['default']
    elif 'default_from' in entry:
      name, _, field = entry['default_from'].partition('.')
      expected = DEFAULT_SOURCES[name]
      expected = getattr(expected, field) if field else expected
    else:
      expected = False if entry.get('action') == 'store_true' else None
    if action.type is not None and expected is not None:
      expected = action.type(expected)  # a typed default takes the type
    assert action.default == expected, entry['name']
    assert type(action.default) is type(expected), entry['name']


# The flags the pipeline had when they moved into flags.toml: none may be
# lost from the table, the parser or --help (new ones need not be listed).
FLAGS_OF_RECORD = '''
--source --input --input_format --catalog --catalog_refresh_seconds
--fx_rates --event_time_from --output --sink --redis_password
--redis_retention_seconds --report --dedupe_ttl_seconds --window
--timezone --window_size_seconds --window_period_seconds
--session_gap_seconds --allowed_lateness_seconds --early_firing_seconds
--no_late_firings --accumulation --top_n --kafka_bootstrap_servers
--kafka_topic --kafka_group_id --kafka_config_file --kafka_sink_config_file
--kafka_bounded --recover --kafka_idle_timeout_seconds
--pubsub_subscription --subscription --pubsub_topic --topic
--pubsub_event_time_attribute --pubsub_reader --zmq_endpoint --zmq_socket
--zmq_topic --zmq_idle_timeout_seconds --max_dead_letter_ratio
--pseudonymize_key --segments --product_pairs --min_pair_support
--pair_partners --anomalies --anomaly_detector --engine'''.split()


def test_help_lists_every_flag_of_the_table_but_the_hidden():
  text = help_text()
  listed = set()
  for entry in table():
    for name in [entry['name'], *entry.get('aliases', [])]:
      listed.add(name)
      assert (f'{name} ' in text or f'{name},' in text) != bool(
          entry.get('hidden')), name
  assert not set(FLAGS_OF_RECORD) - listed


def test_the_defaults_are_the_codes_own():
  """An unset run gets the defaults of the code's objects and constants, so
  the table's default_from names the right ones."""
  config = config_from_options(PipelineOptions([]), streaming=False)
  assert config.window == WindowPolicy(bounded=True)
  assert config.mining == MiningConfig()
  assert (config.catalog, config.fx_rates) == (DEFAULT_CATALOG,
                                               DEFAULT_FX_RATES)
  assert config.dedupe_ttl_seconds == DEFAULT_TTL_SECONDS
  assert config.redis_retention_seconds == REDIS_RETENTION_S
  assert config.zmq_idle_timeout_seconds == ZMQ_IDLE_TIMEOUT_S


def test_a_flags_groups_stand_together():
  groups = [entry['group'] for entry in table()]
  runs = [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g]
  assert len(runs) == len(set(runs)), runs


def test_the_table_ships_with_the_package():
  """Workers import pipelines.options and read flags.toml beside it."""
  tree = ast.parse((ROOT / 'setup.py').read_text(encoding='utf-8'))
  package_data = next(
      ast.literal_eval(keyword.value) for node in ast.walk(tree)
      if isinstance(node, ast.Call) for keyword in node.keywords
      if keyword.arg == 'package_data')
  assert any(fnmatch.fnmatch(FLAG_TABLE.name, pattern)
             for pattern in package_data['pipelines'])

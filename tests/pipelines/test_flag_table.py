"""The checks of a table of flags (pipelines/flag_table.py)."""
import argparse

import pytest

from pipelines.flag_table import read_flags
from transforms.windowing import WindowPolicy

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

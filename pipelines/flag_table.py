"""Reads a table of flags (pipelines/flags.toml) into argparse arguments.

The sales pipeline's flags are data, declared once in flags.toml; this module
turns each entry into the positional names and keyword arguments of one
`add_argument` call, and rejects a malformed table with one ValueError line.
It knows nothing of the pipeline: the caller names the objects a default may
come from (`default_from`) and the values a help text may insert (`{name}`).
"""
from __future__ import annotations

import argparse
import dataclasses
import tomllib
import types
from typing import Any, Dict, Mapping, Optional, Tuple

# type = "..." in the table; a flag without one is a string, as argparse
# keeps it (no converter).
TYPES: Mapping[str, Optional[type]] = {'str': None, 'int': int,
                                       'float': float}
# action = "..."; a flag without one stores its value.
ACTIONS = ('store_true', 'append')
KEYS = frozenset({'name', 'aliases', 'group', 'type', 'action', 'default',
                  'default_from', 'help', 'hidden'})


@dataclasses.dataclass(frozen=True)
class Flag:
  """One entry of the table, as `add_argument(*names, **kwargs)` takes it."""
  names: Tuple[str, ...]
  group: str
  kwargs: Mapping[str, Any]

  def add_to(self, parser: Any) -> argparse.Action:
    """Adds the flag to an ArgumentParser or argument group."""
    return parser.add_argument(*self.names, **self.kwargs)


def read_flags(text: str, *, sources: Mapping[str, Any],
               help_values: Mapping[str, str],
               where: str = 'flags.toml') -> Tuple[Flag, ...]:
  """The table's flags in order. `sources` are what `default_from` may
  name ("NAME" or "NAME.attribute"); `help_values` what a help text may
  insert as {name}. Raises ValueError naming the file and the flag."""
  try:
    table = tomllib.loads(text)
  except tomllib.TOMLDecodeError as e:
    raise ValueError(f'{where}: not TOML: {e}') from None
  extra = set(table) - {'flag'}
  if extra:
    raise ValueError(f'{where}: unknown top-level key(s) {sorted(extra)}; '
                     'the table holds [[flag]] entries only')
  entries = table.get('flag', [])
  if not isinstance(entries, list) or not all(
      isinstance(entry, dict) for entry in entries):
    raise ValueError(f'{where}: flag must be an array of tables, [[flag]]')
  flags = []
  seen: Dict[str, int] = {}
  for number, entry in enumerate(entries, 1):
    label = f'{where}: flag {number} ({entry.get("name", "no name")})'
    try:
      flag = _flag(entry, sources, help_values)
    except ValueError as e:
      raise ValueError(f'{label}: {e}') from None
    for name in flag.names:
      if name in seen:
        raise ValueError(f'{label}: {name} is flag {seen[name]} already')
      seen[name] = number
    flags.append(flag)
  return tuple(flags)


def resolve(reference: str, sources: Mapping[str, Any]) -> Any:
  """The value `default_from = reference` names: a source, or an attribute
  of one ("window.size_seconds")."""
  name, _, attribute = reference.partition('.')
  if name not in sources:
    raise ValueError(f'default_from {reference!r}: unknown source {name!r} '
                     f'(known: {", ".join(sorted(sources))})')
  value = sources[name]
  if attribute:
    if not hasattr(value, attribute):
      raise ValueError(f'default_from {reference!r}: {name} has no '
                       f'{attribute!r}')
    value = getattr(value, attribute)
  return value


def _flag(entry: Mapping[str, Any], sources: Mapping[str, Any],
          help_values: Mapping[str, str]) -> Flag:
  unknown = set(entry) - KEYS
  if unknown:
    raise ValueError(f'unknown key(s) {sorted(unknown)} '
                     f'(known: {", ".join(sorted(KEYS))})')
  aliases = entry.get('aliases', [])
  if not isinstance(aliases, list):
    raise ValueError('aliases must be a list of strings')
  names = (_string(entry, 'name'),) + tuple(aliases)
  if not all(isinstance(n, str) and n.startswith('--') for n in names):
    raise ValueError('name and aliases must be strings like "--flag"')
  kwargs: Dict[str, Any] = {}
  action = entry.get('action')
  if action is not None:
    if action not in ACTIONS:
      raise ValueError(f'unknown action {action!r} '
                       f'(known: {", ".join(ACTIONS)})')
    kwargs['action'] = action
  convert = None
  if 'type' in entry:
    if entry['type'] not in TYPES:
      raise ValueError(f'unknown type {entry["type"]!r} '
                       f'(known: {", ".join(TYPES)})')
    if action == 'store_true':
      raise ValueError('a store_true flag takes no type')
    convert = TYPES[entry['type']]
    if convert is not None:
      kwargs['type'] = convert
  if 'default' in entry and 'default_from' in entry:
    raise ValueError('give default or default_from, not both')
  if 'default_from' in entry:
    kwargs['default'] = resolve(_string(entry, 'default_from'), sources)
  elif 'default' in entry:
    kwargs['default'] = entry['default']
  # Without either, argparse's own: None, or False for store_true.
  if convert is not None and kwargs.get('default') is not None:
    kwargs['default'] = _converted(kwargs['default'], convert)
  hidden = entry.get('hidden', False)
  if not isinstance(hidden, bool):
    raise ValueError('hidden must be true or false')
  if hidden:
    if 'help' in entry:
      raise ValueError('a hidden flag has no help text')
    kwargs['help'] = argparse.SUPPRESS
  else:
    kwargs['help'] = _help(_string(entry, 'help'), help_values)
  return Flag(names=names, group=_string(entry, 'group'),
              kwargs=types.MappingProxyType(kwargs))


def _converted(default: Any, convert: type) -> Any:
  """A default as its flag's type holds it (604800 -> 604800.0), as a
  value given on the command line would be; never a lossy conversion."""
  try:
    value = convert(default)
  except (TypeError, ValueError):
    value = None
  if value is None or isinstance(default, (str, bool)) or value != default:
    raise ValueError(f'default {default!r} is not a {convert.__name__}')
  return value


def _string(entry: Mapping[str, Any], key: str) -> str:
  value = entry.get(key)
  if not isinstance(value, str) or not value:
    raise ValueError(f'{key} must be a non-empty string')
  return value


def _help(text: str, values: Mapping[str, str]) -> str:
  try:
    return text.format_map(values)
  except KeyError as e:
    raise ValueError(f'help inserts unknown {{{e.args[0]}}} '
                     f'(known: {", ".join(sorted(values))})') from None
  except (IndexError, ValueError) as e:
    raise ValueError(f'help is not a format string: {e} '
                     '(a literal brace is written {{ or }})') from None

"""One redaction rule for every message: URLs and property lines lose
their secrets before they reach a terminal, a log or an exception.

* ``redact_url``: ``scheme://user:secret@host/...`` keeps the user and hides
  everything between the first ``:`` of the user part and the LAST ``@``
  (a password may hold ``@``, ``/`` or ``:``); a query parameter whose name
  looks secret (``password=``, ``token=``, ``sasl.password=`` ...) keeps its
  name only. When in doubt it hides too much, never too little.
* ``redact_property_line``: ``key=value``, ``key: value`` or ``key value``
  (any Java properties separator) becomes ``key=***``: a line that cannot
  be read is named by its key, never by its value.
* ``redact_text``: the net under both, for free text (an error from a
  library that may echo what it was given): every ``scheme://...:...@`` and
  every ``secret-looking-key=value`` or ``: value`` in it is hidden.
"""
from __future__ import annotations

import re

__all__ = ['HIDDEN', 'looks_secret', 'redact_property_line', 'redact_text',
           'redact_url']

HIDDEN = '***'

# Names of settings whose values are secrets, in any client's spelling:
# sasl.password, ssl.key.password, passwd, pwd, sasl.oauthbearer.client.secret,
# token, access_token, api_key, ssl.key.pem, ssl_key ...
_SECRET_WORDS = (r'pass(?:word|wd|phrase)|pwd|secret|token|credential|'
                 r'private|api[_.-]?key|ssl_key\b|key\.pem|'
                 r'oauthbearer\.config')
_SECRET_NAME = re.compile(f'(?i)({_SECRET_WORDS})')

# A secret-looking query parameter or key=value / key: value pair in text.
_SECRET_PAIR = re.compile(
    rf'(?i)(?P<key>[\w.-]*(?:{_SECRET_WORDS})[\w.-]*)'
    r'(?P<sep>\s*[=:]\s*)(?P<value>[^\s&\'",;]+)')
# scheme://user:anything@ up to the last @ of the token (quotes and blanks
# end a token).
_USERINFO = re.compile(
    r'(?i)(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<user>[^\s\'"/:@]*):'
    r'[^\s\'"]*@')
# scheme://token@ (no colon): kept when it looks like a user name, hidden
# when it is long enough to be a token (a GitHub or cloud access token).
_LONG_USER = re.compile(
    r'(?i)(?P<scheme>\b[a-z][a-z0-9+.-]*://)[A-Za-z0-9_\-.~%]{32,}@')


def looks_secret(name: str) -> bool:
  """True for a setting name whose value should never be shown."""
  return bool(_SECRET_NAME.search(str(name).strip()))


def redact_url(url: str) -> str:
  """The URL with its password (or token) and secret parameters hidden."""
  text = str(url)
  scheme, sep, rest = text.partition('://')
  if sep and '@' in rest:
    userinfo, _, tail = rest.rpartition('@')
    user, colon, _ = userinfo.partition(':')
    if colon:
      text = f'{scheme}://{user}:{HIDDEN}@{tail}'
  return redact_text(text)


def redact_property_line(line: str) -> str:
  """``key=value`` (or ``key: value``, ``key value``) -> ``key=***``."""
  text = str(line).strip()
  key = re.split(r'\s*[=:]\s*|\s+', text, maxsplit=1)[0]
  if key == text:
    return text if not looks_secret(text) else HIDDEN
  return f'{key}={HIDDEN}'


def redact_text(text: str) -> str:
  """Free text with every URL password and secret setting hidden."""
  out = _USERINFO.sub(
      lambda m: f'{m.group("scheme")}{m.group("user")}:{HIDDEN}@', str(text))
  out = _LONG_USER.sub(lambda m: f'{m.group("scheme")}{HIDDEN}@', out)
  return _SECRET_PAIR.sub(
      lambda m: f'{m.group("key")}{m.group("sep")}{HIDDEN}', out)

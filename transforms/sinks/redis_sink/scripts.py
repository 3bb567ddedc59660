"""The Lua scripts that apply the sinks' "newer pane wins" rule atomically.

Which pane is newer is decided where the database sinks decide it: a
pane's rank is ``(generation,) + database.pane_rank(row)``, computed here
in Python and passed to the script as three integers. The scripts only
compare two such ranks lexicographically and write when the rule says so,
inside Redis, so two writers (retries, replays, a recovery run beside the
old one) can never interleave a read and a write.

* results: a row is replaced only by a strictly newer pane (as
  ``database.category_upsert_sql``); with it move the window's JSON copy,
  the day index and, for the newest all-customers window, ``sales:latest``.
* top products: a newer pane's list replaces the whole older list; the
  same pane adds what is missing (a list written in parts); an older
  pane's list is skipped (as ``database.write_top_products``).
* dead letters: written once per source position (as the database sinks'
  key), to a stream capped at about ``maxlen`` entries.
* mined rows: with panes (anomalies, product_pairs), a row is replaced
  only by a strictly newer pane; without (the segment tables), only when a
  value differs (as ``database.mined.upsert_sql``). A replaced row is
  written whole (a NULL column is an absent field).

Each ``*_call`` returns ``(keys, args)`` for its script; values are the
SQLite table's text forms (``SQLiteDialect``), so a hash holds exactly what
the SQLite sink's row holds.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from transforms.records import CategoryResult, DeadLetter, TopProduct
from transforms.sinks import database
from transforms.sinks.database import mined
from transforms.sinks.mined import MINED_TABLES, mined_key
from transforms.sinks.redis_sink import layout
from transforms.sinks.sqlite_sink import SQLiteDialect

DIALECT = SQLiteDialect()

# compare(key, g, p, f): -1 if (g, p, f) is older than the pane stored in
# the hash at key, 0 if the same, 1 if newer or nothing is stored.
_COMPARE = """
local function compare(key, g, p, f)
  local cur = redis.call('HMGET', key, 'generation', 'pane_index', 'is_final')
  if not cur[1] then return 1 end
  local stored = {tonumber(cur[1]), tonumber(cur[2]), tonumber(cur[3])}
  local new = {g, p, f}
  for i = 1, 3 do
    if new[i] > stored[i] then return 1 end
    if new[i] < stored[i] then return -1 end
  end
  return 0
end
local function expire(ttl, ...)
  if ttl > 0 then
    for _, key in ipairs({...}) do redis.call('PEXPIRE', key, ttl) end
  end
end
"""

# KEYS: result hash, window hash, day set, latest hash
# ARGV: g, p, f, ttl_ms, window_start_ms, window id, category, JSON row,
#       all-customers (1/0), then the row's field/value pairs
RESULT_SCRIPT = _COMPARE + """
local g, p, f = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if compare(KEYS[1], g, p, f) <= 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
redis.call('HSET', KEYS[2], ARGV[7], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
expire(tonumber(ARGV[4]), KEYS[1], KEYS[2], KEYS[3])
if ARGV[9] == '1' then
  local start = tonumber(ARGV[5])
  local latest = tonumber(
    redis.call('HGET', KEYS[4], 'window_start_ms') or '-1')
  if start > latest then
    redis.call('DEL', KEYS[4])
    redis.call('HSET', KEYS[4], 'window', ARGV[6], 'window_start_ms', ARGV[5])
    latest = start
  end
  if start == latest then
    redis.call('HSET', KEYS[4], 'row:' .. ARGV[7], ARGV[8])
  end
end
return 1
"""

# KEYS: top sorted set, top rows hash
# ARGV: g, p, f, ttl_ms, then (product_id, revenue, JSON row) per product
TOP_SCRIPT = _COMPARE + """
local g, p, f = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local order = compare(KEYS[2], g, p, f)
if order < 0 then return 0 end
if order > 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[2], 'generation', ARGV[1], 'pane_index', ARGV[2],
             'is_final', ARGV[3])
end
local added = 0
for i = 5, #ARGV, 3 do
  added = added + redis.call('HSETNX', KEYS[2], 'product:' .. ARGV[i],
                             ARGV[i + 2])
  redis.call('ZADD', KEYS[1], 'NX', ARGV[i + 1], ARGV[i])
end
expire(tonumber(ARGV[4]), KEYS[1], KEYS[2])
return added
"""

# KEYS: seen marker, stream. ARGV: ttl_ms, maxlen, field/value pairs
DEAD_LETTER_SCRIPT = """
local ttl = tonumber(ARGV[1])
local fresh
if ttl > 0 then
  fresh = redis.call('SET', KEYS[1], '1', 'NX', 'PX', ttl)
else
  fresh = redis.call('SET', KEYS[1], '1', 'NX')
end
if not fresh then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
return 1
"""

# KEYS: row hash, table index. ARGV: has panes (1/0), g, p, f, ttl_ms,
#       index score, row id, then the row's field/value pairs
MINED_SCRIPT = _COMPARE + """
if ARGV[1] == '1' then
  if compare(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
             tonumber(ARGV[4])) <= 0 then return 0 end
else
  local same = redis.call('HLEN', KEYS[1]) == (#ARGV - 7) / 2
  for i = 8, #ARGV, 2 do
    if not same then break end
    if ARGV[i] ~= 'updated_at' then
      same = redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1]
    end
  end
  if same then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
expire(tonumber(ARGV[5]), KEYS[1], KEYS[2])
return 1
"""

Call = Tuple[List[str], List[str]]


def rank_args(generation: int, pane_rank: Tuple[int, bool]) -> List[str]:
  """A pane's rank, (generation,) + (pane_index, is_final), as the scripts
  compare it."""
  return [str(int(v)) for v in (int(generation),) + tuple(pane_rank)]


def pane_args(row, generation: int) -> List[str]:
  """The rank of a result or top-product row's pane."""
  return rank_args(generation, database.pane_rank(row))


def _pairs(fields) -> List[str]:
  out = []
  for name, value in fields.items():
    out += [name, str(value)]
  return out


def result_call(row: CategoryResult, now: str, generation: int,
                ttl_ms: int) -> Call:
  fields = database.category_params(DIALECT, row, now, generation)
  keys = layout.result_keys(row)
  args = pane_args(row, generation) + [
      str(ttl_ms), str(int(row.window_start_ms)), layout.window_id(row),
      fields['category'], layout.as_json(fields),
      '1' if row.customer_id == '' else '0'] + _pairs(fields)
  return keys, args


def top_call(rows: Sequence[TopProduct], now: str, generation: int,
             ttl_ms: int) -> Call:
  """One window's list (rows of one pane, as ``database.Buffer`` gives)."""
  first = rows[0]
  args = pane_args(first, generation) + [str(ttl_ms)]
  for row in rows:
    fields = database.top_product_params(DIALECT, row, now, generation)
    args += [fields['product_id'], fields['revenue_usd'],
             layout.as_json(fields)]
  return layout.top_keys(first), args


def dead_letter_call(row: DeadLetter, now: str, ttl_ms: int,
                     maxlen: int) -> Call:
  fields = database.dead_letter_params(DIALECT, row, now)
  return (layout.dead_letter_keys(row),
          [str(ttl_ms), str(maxlen)] + _pairs(fields))


def mined_call(kind: str, row: Dict[str, Any], now: str, generation: int,
               ttl_ms: int) -> Call:
  """One mined row; ``ttl_ms`` applies to windowed tables only (a segment
  row is a bounded run's answer and does not expire)."""
  fields = {name: value for name, value in
            mined.params(DIALECT, kind, row, now, generation).items()
            if value is not None}
  spec = MINED_TABLES[kind]
  rank = (rank_args(generation, mined.row_rank(row)) if spec.has_panes
          else ['0', '0', '0'])
  ttl = ttl_ms if layout.is_windowed(kind) else 0
  keys = layout.mined_keys(kind, row)
  args = (['1' if spec.has_panes else '0'] + rank +
          [str(ttl), str(layout.mined_score(kind, row)),
           mined_key(kind, row)] + _pairs(fields))
  return keys, args

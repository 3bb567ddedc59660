"""CPU accounting for the benchmark: the load average, and the CPU seconds
(user + system, from /proc/PID/stat) of a process tree by command name, of
the Kafka broker's JVM, and the difference between two such readings, so a
run reports where its CPU went."""
from __future__ import annotations

import collections
import os
from typing import Dict, List, Tuple


def load_average() -> Tuple[float, float, float]:
  return os.getloadavg()


def fmt_load(load) -> str:
  return '%.2f %.2f %.2f' % tuple(load)


_CLK = os.sysconf('SC_CLK_TCK')


def _proc_table() -> Dict[int, Tuple[int, str, float]]:
  """pid -> (ppid, comm, cpu seconds) for every process."""
  out = {}
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/stat', encoding='utf-8') as f:
        text = f.read()
    except OSError:
      continue
    comm = text[text.index('(') + 1:text.rindex(')')]
    rest = text[text.rindex(')') + 2:].split()
    ppid = int(rest[1])
    cpu = (int(rest[11]) + int(rest[12])) / _CLK
    out[int(name)] = (ppid, comm, cpu)
  return out


def tree_cpu(root_pid: int) -> Dict[str, float]:
  """CPU seconds of a process and its descendants, by command name."""
  table = _proc_table()
  children = collections.defaultdict(list)
  for pid, (ppid, _, _) in table.items():
    children[ppid].append(pid)
  out: Dict[str, float] = collections.defaultdict(float)
  stack = [root_pid]
  while stack:
    pid = stack.pop()
    if pid in table:
      out[table[pid][1]] += table[pid][2]
    stack.extend(children.get(pid, ()))
  return dict(out)


def kafka_jvm_pids(data_dir: str) -> List[int]:
  pids = []
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/cmdline', 'rb') as f:
        cmd = f.read()
    except OSError:
      continue
    if data_dir.encode() in cmd and b'java' in cmd:
      pids.append(int(name))
  return pids


def pids_cpu(pids: List[int]) -> float:
  table = _proc_table()
  return sum(table[p][2] for p in pids if p in table)


def cpu_delta(before: Dict[str, float], after: Dict[str, float]) -> Dict[str, float]:
  return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2)
          for k in sorted(set(before) | set(after))
          if after.get(k, 0.0) - before.get(k, 0.0) >= 0.05}

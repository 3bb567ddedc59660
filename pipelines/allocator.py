"""How this process allocates memory: set once by the CLI, before a run.

The columnar steps allocate and free many buffers of 0.1-30 MB for every
chunk of input. With the defaults, Arrow's mimalloc pool hands freed pages
back to the kernel soon after, and glibc serves large blocks with fresh
mmaps, so every chunk faults its memory in again: 200,000-320,000 page
faults and 1.4-1.9 s of kernel time for 1M orders. With Arrow allocating
through glibc, glibc serving blocks up to MMAP_THRESHOLD from its heaps and
keeping up to TRIM_THRESHOLD of freed memory for reuse, the same run takes
100,000-120,000 faults, half the kernel time and less peak memory
(docs/performance.md, "Third round").

A user's own choice wins: with $ARROW_DEFAULT_MEMORY_POOL set Arrow's pool
is left alone, and with glibc's $MALLOC_*_ or $GLIBC_TUNABLES set glibc is.
Elsewhere than glibc (musl, macOS) only Arrow's pool is set.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import List

import pyarrow as pa

MMAP_THRESHOLD = 32 << 20  # glibc's largest (mallopt refuses more)
TRIM_THRESHOLD = 256 << 20

_M_TRIM_THRESHOLD = -1  # mallopt(3)
_M_MMAP_THRESHOLD = -3
_GLIBC_ENV = ('GLIBC_TUNABLES', 'MALLOC_MMAP_THRESHOLD_',
              'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_', 'MALLOC_ARENA_MAX')

_LOG = logging.getLogger(__name__)


def reuse_freed_memory() -> List[str]:
  """Sets Arrow's default pool to the system allocator and glibc's
  thresholds (module docstring); returns what was set, for the log."""
  done = []
  if not os.environ.get('ARROW_DEFAULT_MEMORY_POOL'):
    pa.set_memory_pool(pa.system_memory_pool())
    done.append('arrow pool: system')
  if not any(name in os.environ for name in _GLIBC_ENV):
    mallopt = _mallopt()
    if (mallopt is not None and
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1):
      done.append(f'glibc: mmap threshold {MMAP_THRESHOLD >> 20} MiB, '
                  f'trim threshold {TRIM_THRESHOLD >> 20} MiB')
  _LOG.debug('allocator: %s', '; '.join(done) or 'unchanged')
  return done


def _mallopt():
  """glibc's mallopt, or None where the C library has none."""
  name = ctypes.util.find_library('c')
  if not name:
    return None
  try:
    function = ctypes.CDLL(name).mallopt
  except (OSError, AttributeError):
    return None
  function.argtypes = [ctypes.c_int, ctypes.c_int]
  function.restype = ctypes.c_int
  return function

"""pipelines/allocator.py: the CLI's allocator settings, each checked in a
fresh interpreter (they are process-wide), and a user's own choice kept."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

_PROBE = """
import json
import pyarrow as pa
from pipelines.allocator import reuse_freed_memory
done = reuse_freed_memory()
print(json.dumps({'done': done,
                  'pool': pa.default_memory_pool().backend_name}))
"""

_USER_ENV = ('ARROW_DEFAULT_MEMORY_POOL', 'GLIBC_TUNABLES',
             'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_',
             'MALLOC_TOP_PAD_', 'MALLOC_ARENA_MAX')


def _probe(**env):
  clean = {k: v for k, v in os.environ.items() if k not in _USER_ENV}
  out = subprocess.run([sys.executable, '-c', _PROBE], cwd=ROOT, check=True,
                       capture_output=True, text=True,
                       env={**clean, **env}).stdout
  return json.loads(out)


def test_arrow_allocates_through_glibc_with_its_thresholds_set():
  result = _probe()
  assert result['pool'] == 'system'
  assert result['done'] == [
      'arrow pool: system',
      'glibc: mmap threshold 32 MiB, trim threshold 256 MiB']


def test_a_users_arrow_pool_is_kept():
  result = _probe(ARROW_DEFAULT_MEMORY_POOL='jemalloc')
  assert result['pool'] == 'jemalloc'
  assert result['done'] == [
      'glibc: mmap threshold 32 MiB, trim threshold 256 MiB']


def test_a_users_glibc_tuning_is_kept():
  result = _probe(MALLOC_ARENA_MAX='2')
  assert result['done'] == ['arrow pool: system']

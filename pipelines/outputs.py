"""What a run leaves behind under --output: private files, a summary.json
replaced atomically, and no temp files after a failure.

* File modes: while a run lasts, the process's umask also masks the bits
  of "others" and group write (``PRIVATE_BITS``): everything the run
  creates locally (the output directory, the temp and final files,
  summary.json, SQLite databases and their WAL files) is at most 0640
  (directories 0750), and a stricter umask (077) is kept as it is. Files a
  runner's workers create in another process are restricted once the run
  is over (``restrict``).
* summary.json goes to a new temp file (O_EXCL, O_NOFOLLOW) in the output
  directory, then is renamed over the old name (transforms/sinks/
  atomic_file.py): a reader sees the old or the new summary, never half of
  one, and a symlink planted at the name is replaced, never followed.
* The output files are replaced whole the same way
  (transforms/sinks/one_file.py); a run that fails removes the temp files
  it created (``TempFiles``).
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Dict, Iterator, Set

from transforms.sinks.atomic_file import is_temp_name, write_atomically

__all__ = ['PRIVATE_BITS', 'SUMMARY_FILE', 'TempFiles', 'private_files',
           'restrict', 'write_json_atomically', 'write_summary']

SUMMARY_FILE = 'summary.json'
# The mode bits no output ever has: any access by others, group write.
PRIVATE_BITS = 0o027


@contextlib.contextmanager
def private_files() -> Iterator[None]:
  """Adds PRIVATE_BITS to the process's umask for the block; restores it."""
  previous = os.umask(0o077)
  os.umask(previous | PRIVATE_BITS)
  try:
    yield
  finally:
    os.umask(previous)


def restrict(path: str) -> None:
  """Removes PRIVATE_BITS from a local file's mode (never through a link);
  the umask's other choices stand."""
  if '://' in path:
    return  # remote: the store's own access control applies
  try:
    st = os.lstat(path)
  except FileNotFoundError:
    return
  if not os.path.islink(path) and st.st_mode & PRIVATE_BITS:
    os.chmod(path, st.st_mode & 0o7777 & ~PRIVATE_BITS)


def write_json_atomically(path: str, data: Any) -> None:
  """Writes ``data`` as JSON to ``path``, replacing it whole
  (transforms/sinks/atomic_file.py: a temp file created with O_EXCL and
  O_NOFOLLOW, then renamed over the name)."""
  text = json.dumps(data, indent=2, sort_keys=True) + '\n'
  write_atomically(path, lambda f: f.write(text.encode('utf-8')))


def write_summary(output_dir: str, recorded: Dict[str, Any]) -> str:
  """Writes ``output_dir/summary.json`` atomically (a missing local
  directory is made); returns its path."""
  if '://' in output_dir:
    from apache_beam.io.filesystems import \
        FileSystems  # pylint: disable=import-outside-toplevel
    path = FileSystems.join(output_dir, SUMMARY_FILE)
  else:
    path = os.path.join(output_dir, SUMMARY_FILE)
  write_json_atomically(path, recorded)
  return path


class TempFiles:
  """The temp files (``atomic_file.temp_name``) in an output directory when
  the run started; ``remove_new`` removes the ones that appeared since (a
  failed run's), never another run's."""

  def __init__(self, output_dir: str) -> None:
    self.output_dir = output_dir if output_dir and '://' not in output_dir \
        else ''
    self.before = self._current()

  def _current(self) -> Set[str]:
    if not self.output_dir or not os.path.isdir(self.output_dir):
      return set()
    return {n for n in os.listdir(self.output_dir) if is_temp_name(n)}

  def remove_new(self) -> int:
    """Removes the temp files this run created; returns how many."""
    removed = 0
    for name in sorted(self._current() - self.before):
      path = os.path.join(self.output_dir, name)
      if os.path.islink(path) or not os.path.isfile(path):
        continue  # not this run's: leave it
      with contextlib.suppress(OSError):
        os.unlink(path)
        removed += 1
    return removed

"""A file replaced whole: written to a new temp file beside it, then renamed
over it, so a reader finds the old or the new file, never half of one.

On local disk the temp file is created with O_EXCL | O_NOFOLLOW and mode
0640 (less with the umask), so nothing planted at its name is written
through, and the rename replaces a symlink planted at the final name instead
of following it. In a remote store (hdfs://, gs://: Beam's FileSystems) the
old file is deleted before the rename, so for that instant there is none. A
write that fails removes its temp file; a process killed mid-write leaves
one, named by ``temp_name`` (``is_temp_name`` finds them).
"""
from __future__ import annotations

import contextlib
import os
import uuid
from typing import BinaryIO, Callable

_TEMP_SUFFIX = '.tmp'


def temp_name(name: str) -> str:
  """A new hidden temp name for the file `name`, in its directory."""
  return f'.{name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}'


def is_temp_name(name: str) -> bool:
  return name.startswith('.') and name.endswith(_TEMP_SUFFIX)


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
  """Calls write(f) on a new temp file beside `path`, then renames it over
  `path` (module docstring); a missing local directory is made (0750)."""
  if '://' in path:
    _write_remote(path, write)
    return
  directory, name = os.path.split(os.path.abspath(path))
  os.makedirs(directory, mode=0o750, exist_ok=True)
  temp = os.path.join(directory, temp_name(name))
  fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
               0o640)
  try:
    with os.fdopen(fd, 'wb') as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(temp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(temp)
    raise


def _write_remote(path: str, write: Callable[[BinaryIO], None]) -> None:
  from apache_beam.io.filesystems import \
      FileSystems  # pylint: disable=import-outside-toplevel
  directory, name = path.rsplit('/', 1)
  temp = FileSystems.join(directory, temp_name(name))
  try:
    with FileSystems.create(temp) as f:
      write(f)
    if FileSystems.exists(path):
      FileSystems.delete([path])
    FileSystems.rename([temp], [path])
  except BaseException:
    with contextlib.suppress(Exception):
      FileSystems.delete([temp])
    raise

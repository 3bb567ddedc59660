"""File source: JSON Lines, CSV, Avro and Parquet, optionally gzipped.

Emits one RawRecord per record with its source position: the file path and
the 1-based line (JSON Lines, CSV: the line where the row starts) or record
number (Avro, Parquet). JSON text is not decoded here; parsing is the next
step's job. Columnar formats arrive decoded as dicts.
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, List

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.records import RawRecord
from transforms.validate import REQUIRED_FIELDS

JSONL = 'jsonl'
CSV = 'csv'
AVRO = 'avro'
PARQUET = 'parquet'
FORMATS = (JSONL, CSV, AVRO, PARQUET)
_EXTENSIONS = {
    '.jsonl': JSONL, '.ndjson': JSONL, '.json': JSONL, '.csv': CSV,
    '.avro': AVRO, '.parquet': PARQUET, '.pq': PARQUET,
}


class InputError(ValueError):
  """The input cannot be read: no such file, unknown format, ..."""


def check_input_format(input_format: str) -> str:
  """An --input_format value: one of FORMATS, or '' (by extension)."""
  if input_format and input_format not in FORMATS:
    raise InputError(
        f'unknown input format {input_format!r}; use one of '
        f'{", ".join(FORMATS)}')
  return input_format


def detect_format(path: str) -> str:
  """The format of a path by its extension (a trailing .gz is looked past)."""
  name = path.lower()
  if name.endswith('.gz'):
    name = name[:-3]
  for extension, fmt in _EXTENSIONS.items():
    if name.endswith(extension):
      return fmt
  raise InputError(
      f'cannot tell the format of {path!r} from its extension; use '
      f'--input_format ({"|".join(FORMATS)})')


def probe_file(path: str, fmt: str) -> None:
  """Fails with one clear InputError when a local file cannot be read.

  Cheap: a directory or an unreadable file, a .gz that is not gzip, an Avro
  file without an Avro header, a Parquet file without a Parquet footer.
  Damage further in is reported by the read itself (`read_file_records`).
  """
  if os.path.isdir(path):
    raise InputError(f'cannot read {path}: it is a directory')
  if not os.access(path, os.R_OK):
    raise InputError(f'cannot read {path}: permission denied')
  try:
    if path.lower().endswith('.gz'):
      with gzip.open(path, 'rb') as stream:
        stream.read(1)
    elif fmt == AVRO:
      import fastavro
      with open(path, 'rb') as stream:
        fastavro.reader(stream)
    elif fmt == PARQUET:
      import pyarrow.parquet as pq
      pq.ParquetFile(path).metadata  # pylint: disable=expression-not-assigned
    else:
      with open(path, 'rb') as stream:
        stream.read(1)
  except Exception as e:  # pylint: disable=broad-except
    raise read_error(path, fmt, e) from None
  if fmt == CSV:
    try:
      with open_decompressed(path) as stream:
        check_csv_header(path, csv_header(_csv_text(stream)))
    except InputError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      raise read_error(path, fmt, e) from None


def read_error(path: str, fmt: str, error: BaseException) -> InputError:
  """The one-line error for a file that cannot be read as ``fmt``."""
  text = str(error).strip()
  reason = text.splitlines()[0] if text else type(error).__name__
  return InputError(f'cannot read {path} as {fmt}: {reason}')


def _innermost(error: Exception) -> Exception:
  """The error under Beam's nested BeamIOErrors (match -> list -> the
  store's own, e.g. HDFS's 'File /x does not exist.')."""
  details = getattr(error, 'exception_details', None)
  while isinstance(details, dict) and len(details) == 1:
    error = next(iter(details.values()))
    details = getattr(error, 'exception_details', None)
  return error


def expand_patterns(patterns: List[str]) -> List[str]:
  """All files matching the patterns, sorted; InputError if one matches none."""
  paths: List[str] = []
  for pattern in patterns:
    try:
      matches = FileSystems.match([pattern])[0].metadata_list
    except Exception as e:  # BeamIOError for unreachable locations
      raise InputError(f'cannot list {pattern}: {_innermost(e)}') from None
    if not matches:
      raise InputError(f'no input file matches {pattern}')
    paths.extend(m.path for m in matches)
  return sorted(set(paths))


def _read_jsonl(path: str, stream: BinaryIO) -> Iterator[RawRecord]:
  for number, line in enumerate(stream, start=1):
    if not line.strip():
      continue  # blank lines are not records
    yield RawRecord(line.rstrip(b'\r\n'), path, None, number)


def _csv_text(stream: BinaryIO) -> io.TextIOWrapper:
  # utf-8-sig: a byte-order mark (spreadsheets write one) is not part of
  # the first field's name.
  return io.TextIOWrapper(stream, encoding='utf-8-sig', errors='replace',
                          newline='')


def csv_header(text: io.TextIOBase) -> List[str]:
  """The stripped field names of a CSV text's first line ([] if empty)."""
  return [h.strip() for h in next(csv.reader(text), [])]


def check_csv_header(path: str, names: List[str]) -> None:
  """A CSV header must name every required field, or every row would be a
  dead letter: one InputError before the run instead."""
  missing = [name for name in REQUIRED_FIELDS if name not in names]
  if names and missing:
    raise InputError(
        f'{path}: the CSV header lacks {", ".join(missing)} (it has: '
        f'{", ".join(names)[:200]})')


def _read_csv(path: str, stream: BinaryIO) -> Iterator[RawRecord]:
  reader = csv.reader(_csv_text(stream))
  header = next(reader, None)
  if header is None:
    return
  names = [h.strip() for h in header]
  check_csv_header(path, names)
  last_line = reader.line_num
  for row in reader:
    start_line = last_line + 1
    last_line = reader.line_num
    if not row or (len(row) == 1 and not row[0].strip()):
      continue  # blank line
    if len(row) != len(names):
      raw = io.StringIO()
      csv.writer(raw, lineterminator='').writerow(row)
      yield RawRecord(raw.getvalue(), path, None, start_line,
                      decode_error=f'{len(row)} fields, header has '
                      f'{len(names)}')
      continue
    yield RawRecord(dict(zip(names, row)), path, None, start_line)


def _read_avro(path: str, stream: BinaryIO) -> Iterator[RawRecord]:
  import fastavro
  for number, record in enumerate(fastavro.reader(stream), start=1):
    yield RawRecord(dict(record), path, None, number)


def _read_parquet(path: str, stream: BinaryIO) -> Iterator[RawRecord]:
  import pyarrow.parquet as pq
  parquet = pq.ParquetFile(io.BytesIO(stream.read()))
  number = 0
  for batch in parquet.iter_batches(batch_size=10_000):
    for record in batch.to_pylist():
      number += 1
      yield RawRecord(record, path, None, number)


_READERS: Dict[str, Callable[[str, BinaryIO], Iterator[RawRecord]]] = {
    JSONL: _read_jsonl, CSV: _read_csv, AVRO: _read_avro,
    PARQUET: _read_parquet,
}


@contextlib.contextmanager
def open_decompressed(path: str) -> Iterator[BinaryIO]:
  """A file's bytes, gunzipped when its name ends in .gz (local or remote).

  Beam's own decompressing stream cannot be iterated by line; gzip's can.
  """
  with FileSystems.open(
      path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
    if path.lower().endswith('.gz'):
      with gzip.GzipFile(fileobj=f) as stream:
        yield stream
    else:
      yield f


def read_file_records(path: str, fmt: str) -> Iterator[RawRecord]:
  """Every record of one file (gzip by its .gz suffix), for both engines.

  A file damaged past its header fails the run with its path in the
  message (records already read are not half-counted: the run fails).
  Errors of the caller's own work between records are not caught here.
  """
  try:
    with open_decompressed(path) as stream:
      yield from _READERS[fmt](path, stream)
  except InputError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise read_error(path, fmt, e) from e


class _ReadFileRecordsFn(beam.DoFn):

  def __init__(self, input_format: str) -> None:
    self._input_format = input_format

  def process(self, readable: fileio.ReadableFile) -> Iterable[RawRecord]:
    path = readable.metadata.path
    yield from read_file_records(path,
                                 self._input_format or detect_format(path))


class ReadOrderFiles(beam.PTransform):
  """PBegin -> PCollection[RawRecord] from files matching the patterns.

  input_format: one of FORMATS, or '' to detect each file's format by its
  extension.
  """

  def __init__(self, patterns: List[str], input_format: str = '') -> None:
    super().__init__()
    self._patterns = list(patterns)
    self._input_format = check_input_format(input_format)

  def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
    return (
        pbegin
        | 'InputPatterns' >> beam.Create(self._patterns)
        | 'MatchFiles' >> fileio.MatchAll(
            empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
        | 'OpenFiles' >> fileio.ReadMatches()
        | 'ReadRecords' >> beam.ParDo(_ReadFileRecordsFn(self._input_format)))

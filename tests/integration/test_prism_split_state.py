"""Prism keeps a key to one bundle at a time, also when it splits a bundle.

Prism splits a bundle whose input makes no progress for a few hundred
milliseconds. Beam 2.77's Prism then released the keys of the residual
elements even when the primary part still held elements of the same key,
so a second bundle could run that key beside the first, both reading its
state before either committed: the streaming dedupe forgot order ids and
counted a resent order twice (runners/prism/setup.sh builds Prism with the
fix, runners/prism/patches/elementmanager.go.patch).

Here every element has one key and counts itself in that key's state; the
first one holds its bundle long enough to be split. Kept to one bundle at
a time, the counts seen are exactly 0..N-1; two bundles at once read the
same counts twice.
"""
import time

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from runners.local import LOOPBACK_PRISM_RUNNER, prism_binary

pytestmark = [pytest.mark.prism, pytest.mark.integration]

ELEMENTS = 24
# Far above Prism's split trigger (no progress across two 100 ms progress
# reports); a slower machine only makes the split more certain.
HOLD_S = 2.0


class CountInStateFn(beam.DoFn):
  """(key, i) -> how many elements of the key came before this one."""
  COUNT = ReadModifyWriteStateSpec('count', VarIntCoder())

  def process(self, element, count=beam.DoFn.StateParam(COUNT)):
    before = count.read() or 0
    if before == 0:
      time.sleep(HOLD_S)  # the key's first element: Prism splits the bundle
    count.write(before + 1)
    yield before


def test_a_split_bundle_keeps_its_keys_until_it_commits():
  binary = prism_binary()
  assert binary is not None, 'Prism is not built: run runners/prism/setup.sh'
  options = PipelineOptions([
      f'--runner={LOOPBACK_PRISM_RUNNER}', f'--prism_location={binary}',
      '--environment_type=LOOPBACK'])
  with beam.Pipeline(options=options) as p:
    counts = (p
              | beam.Create([('one key', i) for i in range(ELEMENTS)])
              | beam.ParDo(CountInStateFn()))
    assert_that(counts, equal_to(list(range(ELEMENTS))))

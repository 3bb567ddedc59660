"""RawBatchCoder (transforms/raw_batch_coder.py): exact round trips, a size
estimate that encodes nothing, and the coder of every RawBatch output."""
import pickle

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.raw_batch_coder import PER_RECORD_BYTES, RawBatchCoder
from transforms.records import RawBatch
from transforms.sources.kafka import ReadFromKafkaNative
from transforms.vectorized.batches import RecordsAsBatches

maybe_int = st.one_of(st.none(), st.integers())


@st.composite
def batches(draw) -> RawBatch:
  n = draw(st.integers(0, 20))
  column = lambda values: draw(st.lists(values, min_size=n, max_size=n))
  return RawBatch(draw(st.text(max_size=10)),
                  draw(st.one_of(st.none(), st.integers(0, 99))),
                  column(st.integers()), column(st.binary(max_size=30)),
                  column(maybe_int), column(maybe_int))


@settings(max_examples=200, deadline=None)
@given(batch=batches())
def test_a_batch_decodes_to_itself(batch):
  coder = RawBatchCoder()
  decoded = coder.decode(coder.encode(batch))
  assert decoded == batch and type(decoded) is RawBatch


def test_the_size_estimate_reads_lengths_and_encodes_nothing():
  calls = []

  class Counting(RawBatchCoder):
    def encode(self, value):
      calls.append(value)
      return super().encode(value)
  payloads = [b'x' * 100, b'', b'{"a":1}']
  batch = RawBatch('orders', 2, [5, 6, 7], payloads, [None, 1, 2],
                   [10, 11, None])
  want = 107 + 3 * PER_RECORD_BYTES + len('orders')
  assert Counting().estimate_size(batch) == want
  assert Counting().get_impl().estimate_size(batch) == want
  assert not calls
  # of the order of what travels
  assert want / 2 < len(pickle.dumps(batch)) < want * 2


def _element_coder(pipeline: beam.Pipeline, step: str) -> beam.coders.Coder:
  found = []

  class Visitor(beam.pipeline.PipelineVisitor):
    def visit_transform(self, node):
      if node.full_label.endswith(step):
        found.extend(node.outputs.values())
  pipeline.visit(Visitor())
  (pcoll,) = found
  return beam.coders.registry.get_coder(pcoll.element_type)


def test_the_batch_sources_outputs_are_coded_as_raw_batches():
  """Before the coder was declared, these outputs were of type Any: Beam
  sized every batch by pickling it."""
  p = beam.Pipeline(options=PipelineOptions([]))
  _ = p | 'Kafka' >> ReadFromKafkaNative('127.0.0.1:9', 't', 'g',
                                         emit_batches=True)
  _ = p | 'Records' >> RecordsAsBatches(beam.Create([]))
  assert isinstance(_element_coder(p, 'Kafka/ReadPartitions'), RawBatchCoder)
  assert isinstance(_element_coder(p, 'Records/BatchPerBundle'),
                    RawBatchCoder)

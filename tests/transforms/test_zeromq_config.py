"""ZeroMQ endpoints and flags (pure logic): a bad one is one line before
anything starts (transforms/sources/zeromq/endpoint.py, pipelines/options.py)."""
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import config_from_options
from transforms.sources.zeromq import check_endpoint, check_socket, event_frame


@pytest.mark.parametrize('endpoint', ['tcp://127.0.0.1:5556',
                                      'tcp://[::1]:5556', 'ipc:///tmp/feed'])
def test_good_endpoints(endpoint):
  assert check_endpoint(f' {endpoint} ') == endpoint


@pytest.mark.parametrize('endpoint', ['', '127.0.0.1:5556', 'tcp://host',
                                      'tcp://host:0', 'tcp://host:70000',
                                      'udp://host:5556', 'tcp://*:5556'])
def test_bad_endpoints_are_one_line(endpoint):
  with pytest.raises(ValueError) as err:
    check_endpoint(endpoint)
  assert 'tcp://host:port' in str(err.value) and '\n' not in str(err.value)


def test_socket_kinds_and_topics():
  assert check_socket('PULL') == 'pull'
  assert check_socket('sub', 'orders') == 'sub'
  with pytest.raises(ValueError, match='pull or sub'):
    check_socket('push')
  with pytest.raises(ValueError, match='--zmq_socket sub'):
    check_socket('pull', 'orders')


def test_the_event_is_the_last_frame():
  assert event_frame([b'{"a":1}']) == b'{"a":1}'
  assert event_frame([b'orders', b'{"a":1}']) == b'{"a":1}'


@pytest.mark.parametrize('flags, message', [
    (['--zmq_endpoint', 'localhost:5556'], 'tcp://host:port'),
    (['--zmq_topic', 'orders'], '--zmq_socket sub'),
    (['--event_time_from', 'transport'], 'no transport time'),
    (['--recover'], '--recover replays a Kafka topic'),
])
def test_the_flags_are_checked_before_the_run(flags, message):
  with pytest.raises(ValueError, match=message):
    config_from_options(PipelineOptions(['--source', 'zeromq', *flags]),
                        streaming=True)


def test_a_zeromq_run_is_unbounded():
  config = config_from_options(PipelineOptions(['--source', 'zeromq']),
                               streaming=False)
  assert not config.bounded
  assert config.zmq_endpoint == 'tcp://127.0.0.1:5556'

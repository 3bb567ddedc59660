"""An outage is two lines on the terminal: when it begins, when it ends."""
import logging

from transforms.outages import Outage


def test_one_warning_per_outage_and_one_when_back(caplog):
  log = logging.getLogger('test.outages')
  outage = Outage('PostgreSQL at sales@127.0.0.1:5432/sales', log)
  with caplog.at_level(logging.DEBUG, logger='test.outages'):
    outage.answered()  # no outage: nothing to say
    for _ in range(5):
      outage.failed('connection refused')
    outage.answered()
    outage.answered()
    outage.failed('timeout')
  warnings = [r.getMessage() for r in caplog.records
              if r.levelno == logging.WARNING]
  assert warnings[0] == ('PostgreSQL at sales@127.0.0.1:5432/sales is '
                         'unreachable (connection refused); retrying')
  assert warnings[1].startswith('PostgreSQL at sales@127.0.0.1:5432/sales '
                                'is reachable again (after ')
  assert warnings[2].endswith('is unreachable (timeout); retrying')
  assert len(warnings) == 3
  assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 4

"""The data-quality gate as a pure function (pipelines/quality.py)."""
import pytest

from pipelines.quality import (EXIT_QUALITY, QualityGateFailed,
                               check_ratio_flag, dead_letter_gate)
from pipelines.summary import RunSummary
from tests.helpers import config


def summary(read, dead, counted=True, late=0):
  return RunSummary(records_read=read, valid=read - dead - late,
                    dead_letters={'bad_time': dead} if dead else {},
                    late=late, counted=counted)


def test_the_gate_is_off_unless_asked_for():
  assert dead_letter_gate(summary(10, 9), None) is None
  assert config().max_dead_letter_ratio is None


def test_a_run_above_the_ratio_fails_and_one_at_it_passes():
  over = dead_letter_gate(summary(1000, 11), 0.01)
  assert not over.passed
  assert over.as_dict() == {'max_dead_letter_ratio': 0.01,
                            'dead_letter_ratio': 0.011, 'dead_letters': 11,
                            'records_read': 1000, 'passed': False}
  assert over.message.startswith('data-quality gate failed: 11 dead letters '
                                 'of 1000 records read = 1.1000% (limit ')
  assert dead_letter_gate(summary(1000, 10), 0.01).passed


def test_late_records_and_an_empty_run_do_not_count_against_the_gate():
  assert dead_letter_gate(summary(100, 0, late=50), 0.0).passed
  assert dead_letter_gate(summary(0, 0), 0.0).passed


def test_no_verdict_without_counts():
  assert dead_letter_gate(summary(10, 9, counted=False), 0.1) is None


@pytest.mark.parametrize('value', [-0.1, 1.5])
def test_the_flag_is_a_share(value):
  with pytest.raises(ValueError, match='between 0 and 1'):
    check_ratio_flag(value)
  with pytest.raises(ValueError, match='--max_dead_letter_ratio'):
    config(('--max_dead_letter_ratio', str(value)))
  assert config(('--max_dead_letter_ratio', '0.05')).max_dead_letter_ratio == (
      0.05)


def test_the_gate_has_its_own_exit_code_and_error_type():
  assert EXIT_QUALITY not in (0, 1, 2)
  assert not issubclass(QualityGateFailed, ValueError)

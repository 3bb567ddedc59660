"""The project's patches to Prism's engine, tested where they live: Go tests
(runners/prism/patches/sales_patches_test.go) run in the patched copy of
Beam's engine package by `runners/prism/setup.sh test`. Each failed on
Beam 2.77's unpatched engine."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [pytest.mark.prism,
              pytest.mark.skipif(shutil.which('go') is None,
                                 reason='Go is not installed')]


def test_the_engine_patches_pass_their_go_tests():
  proc = subprocess.run([os.path.join(ROOT, 'runners', 'prism', 'setup.sh'),
                         'test'], cwd=ROOT, capture_output=True, text=True,
                        timeout=900)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert 'ok' in proc.stdout, proc.stdout[-3000:]

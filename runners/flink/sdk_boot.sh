#!/usr/bin/env bash
# PROCESS-environment boot command: runs sdk_boot.py with the project's venv
# interpreter (or $BEAM_SDK_PYTHON). See sdk_boot.py.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${BEAM_SDK_PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x "$HERE/../../.venv/bin/python" ]]; then PY="$HERE/../../.venv/bin/python"; else PY=python3; fi
fi
exec "$PY" "$HERE/sdk_boot.py" "$@"

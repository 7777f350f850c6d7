#!/usr/bin/env bash
# Installs (if needed) and runs the whole check: ruff lint, ruff format check, pytest.
# Usage: scripts/test.sh [pytest args...]
# The JSON-schema tests need vLLM in its own environment (scripts/install-vllm.sh, a few minutes
# the first time); WALLWM_SKIP_VLLM=1 skips them for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
venv="${WALLWM_VENV:-.venv}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
if [[ "${WALLWM_SKIP_VLLM:-0}" != "1" && -z "${WALLWM_VLLM_PYTHON:-}" ]]; then
  WALLWM_VLLM_PYTHON="$(scripts/install-vllm.sh)"
  export WALLWM_VLLM_PYTHON
fi
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/python" -m pytest "$@"

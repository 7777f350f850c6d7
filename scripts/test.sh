#!/usr/bin/env bash
# Installs (if needed) and runs the whole check: ruff lint, ruff format check, pytest.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
venv="${WALLWM_VENV:-.venv}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/python" -m pytest "$@"

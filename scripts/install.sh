#!/usr/bin/env bash
# Installs wallwm-agent into ./.venv on a fresh Debian/Ubuntu machine. Idempotent: a second run
# only checks. Usage: scripts/install.sh [--dev]
#   --dev   also installs the test and lint tools (pytest, ruff)
# Environment: WALLWM_VENV (default .venv), WALLWM_PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
venv="${WALLWM_VENV:-.venv}"
python="${WALLWM_PYTHON:-python3}"

say() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

# 1. Debian packages: EGL and Mesa's software rasteriser, so MuJoCo renders offscreen without a
#    display (MUJOCO_GL=egl). Installed only when missing.
debs=(libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri)
missing=()
for pkg in "${debs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Virtual environment.
if [[ ! -x "$venv/bin/python" ]]; then
  say "creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)

# 3. torch first, pinned: with it in place no later requirement can pull another (CUDA) build.
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  say "installing torch==2.13.0"
  "${pip[@]}" install torch==2.13.0
fi

# 4. The project and its dependencies, under the same pins.
say "installing wallwm-agent${extras} (editable)"
"${pip[@]}" install -c constraints.txt -e ".${extras}"

# 5. Guard: fail loudly if anything dragged in a GPU build or a package we must not depend on.
forbidden=$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null \
  | grep -iE '^(nvidia-|torchvision|torchaudio|lpips|triton)' || true)
if [[ -n "$forbidden" ]]; then
  echo "error: forbidden packages were installed (they pull CUDA builds):" >&2
  echo "$forbidden" >&2
  exit 1
fi
say "done: $("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)')"

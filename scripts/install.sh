#!/usr/bin/env bash
# Installs wallwm-agent into ./.venv on a fresh Debian/Ubuntu machine, every package at the exact
# version and hash of requirements.lock (refresh it with scripts/lock.sh). Idempotent: a second
# run only checks. Usage: scripts/install.sh
# Environment: WALLWM_VENV (default .venv), WALLWM_PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

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

# 3. torch first, at the version pyproject.toml pins but outside the lock: pip takes the build that
#    fits this machine (a local CPU wheel where there is one, PyPI's CUDA build on a GPU host).
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  say "installing torch==2.13.0"
  "${pip[@]}" install torch==2.13.0
fi

# 4. Everything else exactly as locked (no resolver, no unpinned package), then the project itself.
say "installing the locked dependencies (requirements.lock)"
"${pip[@]}" install --require-hashes --no-deps -r requirements.lock
say "installing wallwm-agent (editable)"
"${pip[@]}" install --no-deps --no-build-isolation -e .
"$venv/bin/python" -m pip check >/dev/null || {
  "$venv/bin/python" -m pip check >&2
  echo "error: the environment's requirements are broken (pip check above)" >&2
  exit 1
}

# 5. Guard: torchvision, torchaudio and lpips are never wanted (each pulls a second, multi-GB
#    torch); CUDA runtime packages only where a GPU is there to use them.
forbidden='^(torchvision|torchaudio|lpips)=='
has_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  has_gpu=1
else
  forbidden='^(torchvision|torchaudio|lpips|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+|triton)=='
fi
found=$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | grep -iE "$forbidden" || true)
if [[ -n "$found" ]]; then
  echo "error: packages that pull CUDA builds were installed on a machine without a GPU:" >&2
  echo "$found" >&2
  exit 1
fi
say "done: $("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)')" \
  "$([[ $has_gpu == 1 ]] && echo "(GPU host)")"

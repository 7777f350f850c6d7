#!/usr/bin/env bash
# Installs LeRobot 0.4.4 into its own virtual environment (.venv-lerobot) for the conformance
# check of our datasets against LeRobot's own code (benchmarks/lerobot_conformance.py and
# tests/worldmodel/data/test_lerobot_conformance.py). LeRobot pins torch < 2.11 and pulls
# torchvision, so it cannot share the project's environment; it is a test tool, not a dependency.
# Where pip may only install torch <= 2.14.1 (a CUDA build, about 5.5 GB installed), LeRobot goes
# in without its pins, beside torch 2.14.1, torchvision 0.29.1 and torchcodec 0.14 (the video
# decoder LeRobot uses: torchvision 0.29 has no video reader, and torchcodec needs FFmpeg's shared
# libraries, e.g. `apt-get install ffmpeg`); the dataset code we exercise works with them.
# Idempotent. Usage: scripts/install-lerobot.sh   (prints the Python to set as
# WALLWM_LEROBOT_PYTHON)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${WALLWM_LEROBOT_VENV:-.venv-lerobot}"
python="${WALLWM_PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import lerobot.datasets.lerobot_dataset" 2>/dev/null; then
  echo "[install-lerobot] installing lerobot 0.4.4 into $venv (several minutes)" >&2
  "$python" -m venv "$venv"
  pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  "${pip[@]}" install torch==2.14.1 torchvision==0.29.1 torchcodec==0.14.0
  "${pip[@]}" install --no-deps lerobot==0.4.4
  # lerobot 0.4.4's own requirements, less torch/torchvision/torchcodec (above) and the hardware
  # and logging ones the dataset code never imports (cmake, wandb, rerun-sdk)
  "${pip[@]}" install "datasets>=4.0,<5" "diffusers>=0.27.2,<0.36" \
    "huggingface-hub>=0.34.2,<0.36" "accelerate>=1.10,<2" "setuptools>=71,<81" \
    "einops>=0.8,<0.9" "opencv-python-headless>=4.9,<4.13" "av>=15,<16" "jsonlines>=4,<5" \
    "packaging>=24.2,<26" "pynput>=1.7.7,<1.9" "pyserial>=3.5,<4" "draccus==0.10.0" \
    "gymnasium>=1.1.1,<2" "deepdiff>=7,<9" "imageio[ffmpeg]>=2.34,<3" "termcolor>=2.4,<4" pandas
fi
echo "$(cd "$venv" && pwd)/bin/python"

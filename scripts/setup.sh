#!/usr/bin/env bash
# Create .venv (once) and install tv2tv-world with the Atari games, the test tools and the examples' packages.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[atari,dev,examples]'

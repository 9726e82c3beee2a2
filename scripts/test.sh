#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# System tools for the container tier (podman, mmdebstrap); skipped where apt is unavailable.
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null && ! command -v podman >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman mmdebstrap >/dev/null) \
    || echo "note: podman could not be installed; the container tier will skip"
fi
ruff check .
ruff format --check .
python scripts/typecheck.py
python -m pytest "$@"

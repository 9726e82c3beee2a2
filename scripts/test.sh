#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# System tools for the container tier (podman with runc, since crun fails on this cgroup
# setup; mmdebstrap for the base image; skopeo and docker-registry for the push checks).
# Installed when missing and apt is usable; without them the container tier skips.
missing=""
for tool in podman runc mmdebstrap skopeo docker-registry; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
    || echo "note: could not install$missing; the container tier will skip what needs them"
fi
ruff check .
ruff format --check .
python scripts/typecheck.py
python -m pytest "$@"

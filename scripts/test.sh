#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
# GUI tests that need a real window run under Xvfb; the rest use the offscreen platform.
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
  exec xvfb-run -a -s "-screen 0 1600x1000x24" ctest --test-dir "$BUILD_DIR" --output-on-failure "$@"
fi
exec ctest --test-dir "$BUILD_DIR" --output-on-failure "$@"

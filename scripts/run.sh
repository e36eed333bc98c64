#!/usr/bin/env bash
# Sets everything up and starts Unisearch: installs missing dependencies, builds, launches.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "${QT_QPA_PLATFORM:-}" != offscreen ]; then
  echo "No display found (DISPLAY and WAYLAND_DISPLAY are unset), so the desktop application cannot open."
  echo "Use the command-line twin instead, for example:"
  echo "  $BUILD_DIR/app/unisearch-cli --help"
  exit 2
fi
exec "$BUILD_DIR/app/unisearch" "$@"

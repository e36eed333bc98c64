#!/usr/bin/env bash
# Installs every build and runtime dependency of Unisearch from Debian 12's packages.
# Idempotent and non-interactive; run as root or through sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git file
  libtorch-dev                      # LibTorch 1.13 (CPU)
  libopenblas0-pthread              # LibTorch uses the system libblas.so.3: the reference BLAS is ~20x slower
  libfaiss-dev                      # vector store
  qt6-base-dev qt6-base-dev-tools libgl-dev
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg
  libsqlite3-dev
  libtesseract-dev libleptonica-dev tesseract-ocr-eng   # text in pictures (OCR)
  fonts-dejavu-core                 # tests render text to read back
  libexiv2-dev                      # capture dates, GPS, camera; XMP sidecars
  libheif-dev libjxl-dev libraw-dev # HEIC/AVIF, JPEG XL, camera RAW
  libheif-examples libjxl-tools libimage-exiftool-perl   # tests make such files (heif-enc, cjxl, exiftool)
  libicu-dev nlohmann-json3-dev libzip-dev libssl-dev
  xvfb xauth                        # GUI tests and screenshots
  dbus-daemon                       # a private session bus for the Show in Folder test
  appstream                         # appstreamcli validate for packaging/
  dpkg-dev                          # cpack -G DEB
  libclang-rt-14-dev                # libFuzzer for the fuzz targets (scripts/fuzz.sh)
  python3                           # scripts/fuzz-seeds.sh
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: every dependency is installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Saves screenshots of the desktop application's main views to docs/screenshots/:
# runs `unisearch` under Xvfb on a sample library made here (the fixture PNGs, a few
# images and a video generated with ffmpeg), with the fixture models imported through
# unisearch-cli into a temporary data dir. The application's screenshot tour
# (UNISEARCH_SCREENSHOT_DIR, ui/screenshotdriver.h) adds the folders, catches indexing
# paused, searches, previews, asks, shows a video moment and the list view, then quits.
#
#   BUILD_DIR=build scripts/screenshots.sh [OUTPUT_DIR]
#
# Needs: a built tree (unisearch, unisearch-cli), xvfb-run, ffmpeg, ../shared/fixtures
# (UNISEARCH_FIXTURES overrides). The fixture models are tiny random-weight test models:
# the screenshots show the application, not the quality of a real model's ranking.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
OUT=${1:-$ROOT/docs/screenshots}
FIXTURES=${UNISEARCH_FIXTURES:-$ROOT/../shared/fixtures}
APP=$BUILD_DIR/app/unisearch
CLI=$BUILD_DIR/app/unisearch-cli
for f in "$APP" "$CLI"; do
  [ -x "$f" ] || { echo "screenshots: $f is missing: build first (scripts/build.sh)" >&2; exit 1; }
done
command -v xvfb-run >/dev/null || { echo "screenshots: xvfb-run is missing (apt install xvfb)" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "screenshots: ffmpeg is missing (apt install ffmpeg)" >&2; exit 1; }
[ -d "$FIXTURES/uniadapter" ] || { echo "screenshots: no fixtures at $FIXTURES" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export UNISEARCH_DATA_DIR=$WORK/data
export XDG_CONFIG_HOME=$WORK/config   # default settings, never the user's
export XDG_CACHE_HOME=$WORK/cache
export XDG_RUNTIME_DIR=$WORK/runtime
mkdir -p "$WORK/runtime" && chmod 700 "$WORK/runtime"
PHOTOS=$WORK/Pictures
VIDEOS=$WORK/Videos
mkdir -p "$PHOTOS/holiday" "$VIDEOS"

# The sample library.
U=$FIXTURES/uniadapter
cp "$U/retrieval-image/img0.png" "$PHOTOS/beach-dog.png"
cp "$U/retrieval-image/img1.png" "$PHOTOS/bikes-sunset.png"
cp "$U/retrieval-image/img2.png" "$PHOTOS/red-circle.png"
cp "$U/vqa/img0.png" "$PHOTOS/holiday/circle.png"
cp "$U/vqa/img1.png" "$PHOTOS/holiday/people.png"
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
ff -f lavfi -i "testsrc2=s=640x426:d=1" -frames:v 1 "$PHOTOS/test-card.png"
ff -f lavfi -i "mandelbrot=s=640x426" -frames:v 1 "$PHOTOS/holiday/fractal.jpg"
ff -f lavfi -i "smptehdbars=s=640x360" -frames:v 1 "$PHOTOS/bars.png"
ff -f lavfi -i "gradients=s=640x426:c0=0x2050a0:c1=0xf0a030:seed=3" -frames:v 1 "$PHOTOS/holiday/sky.jpg"
ff -f lavfi -i "life=s=320x240:mold=10:r=1:ratio=0.3:death_color=#203040:life_color=#80e0a0,scale=640:480:flags=neighbor" \
   -frames:v 1 "$PHOTOS/garden.png"
ff -f lavfi -i "color=c=red:s=480x270:d=1" -vf "drawbox=x=160:y=60:w=160:h=150:color=blue:t=fill" -frames:v 1 \
   "$PHOTOS/red-and-blue.png"
head -c 3000 "$PHOTOS/holiday/fractal.jpg" > "$PHOTOS/holiday/cut-short.jpg"  # listed as failed
ff -f lavfi -i "color=c=red:s=480x270:r=25:d=4" -f lavfi -i "testsrc2=s=480x270:r=25:d=4" \
   -f lavfi -i "color=c=blue:s=480x270:r=25:d=4" \
   -filter_complex "[0:v][1:v][2:v]concat=n=3:v=1[v]" -map "[v]" -pix_fmt yuv420p -c:v mpeg4 -q:v 3 \
   "$VIDEOS/three-scenes.mp4"

# The fixture models (retrieval and VQA), imported with their architectures.
"$CLI" model import "$U/weights/retrieval.pth" --name fixture-retrieval --task retrieval \
  --architecture "@$U/retrieval-image/case.json" >/dev/null
"$CLI" model import "$U/weights/vqa.pth" --name fixture-vqa --task vqa \
  --architecture "@$U/vqa/case.json" >/dev/null

mkdir -p "$OUT"
export UNISEARCH_SCREENSHOT_DIR=$OUT
export UNISEARCH_SCREENSHOT_ADD=$PHOTOS:$VIDEOS
export UNISEARCH_SCREENSHOT_QUERY=${UNISEARCH_SCREENSHOT_QUERY:-"a red circle on a blue field"}
export UNISEARCH_SCREENSHOT_QUESTION=${UNISEARCH_SCREENSHOT_QUESTION:-"what color is the circle?"}
export UNISEARCH_SCREENSHOT_ANSWERS=${UNISEARCH_SCREENSHOT_ANSWERS:-"red|blue|green|yes|no|a dog|sunset"}
timeout 300 xvfb-run -a -s "-screen 0 1400x900x24 -dpi 96" "$APP" --device cpu --threads 2
ls -1 "$OUT"/*.png

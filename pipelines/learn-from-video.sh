#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# learn-from-video.sh: a model from footage of good parts. The video is decoded to the RGB pixels the element
# would see (pnmenc, one binary PNM picture per frame), `nfbmr frames` keeps every Nth frame and skips
# near-duplicates (a part at rest under the camera), and `nfbmr train` trains on what is kept, holding frames
# out for the threshold exactly as it does for a folder of images.
#
# Arguments:
#   VIDEO      the footage: a file (any container GStreamer decodes) or a URI (file://, rtsp://, …)
#   OUT        the model to write (.nfbmr)
#
# Variables (environment):
#   EVERY           keep every Nth frame                                   (default: 5)
#   MIN_CHANGE      skip frames whose thumbnail differs from a kept one by less than this (0–1)
#                                                                          (default: 0.01)
#   FRAMES_DIR      keep the picked frames there (default: a temporary folder, removed at the end)
#   DEVICE          auto, cpu, cuda or cuda:N                              (default: auto)
#   TRAIN_OPTIONS   further options of `nfbmr train`, e.g. "--image-size 256 --hold-out 0.2"
#
# Usage: pipelines/learn-from-video.sh VIDEO OUT [--help]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/pipeline-env.sh"
help_or_usage 2 "$@"
video="$1" out="$2"
EVERY="${EVERY:-5}"
MIN_CHANGE="${MIN_CHANGE:-0.01}"

case "$video" in
    *://*) source_fragment=(uridecodebin "uri=$video") ;;
    *)
        [ -f "$video" ] || { echo "learn-from-video.sh: video $video does not exist" >&2; exit 1; }
        source_fragment=(filesrc "location=$video" ! decodebin)
        ;;
esac
frames="${FRAMES_DIR:-}"
if [ -z "$frames" ]; then
    frames="$(mktemp -d)"
    trap 'rm -rf "$frames"' EXIT
fi

gst-launch-1.0 -q "${source_fragment[@]}" ! videoconvert ! video/x-raw,format=RGB ! pnmenc ! fdsink fd=1 \
    | nfbmr frames --every "$EVERY" --min-change "$MIN_CHANGE" --out "$frames"
# shellcheck disable=SC2086
nfbmr train --data "$frames" --out "$out" --device "$DEVICE" ${TRAIN_OPTIONS:-}

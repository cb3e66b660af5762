#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# inspect-camera.sh: a station's live inspection. A camera (v4l2 by default: USB and most GigE cameras
# with a V4L2 driver) through the element with the overlay on, shown on the screen, every verdict in
# $RESULTS; Ctrl-C stops cleanly.
#
# Arguments:
#   MODEL     the .nfbmr model                                     (default: demo-out/part.nfbmr)
#
# Variables (environment):
#   CAMERA          the V4L2 device                                (default: /dev/video0)
#   SOURCE          any gst-launch source fragment instead of the V4L2 camera, e.g.
#                   "rtspsrc location=rtsp://cam/stream ! decodebin" or "videotestsrc is-live=true"
#   SINK            where the annotated picture goes               (default: autovideosink)
#   RESULTS         the JSON-lines file                            (default: results.jsonl here)
#   DEVICE          auto, cpu, cuda or cuda:N                      (default: auto)
#   NFBMR_OPTIONS   further properties of the element, e.g. "inference-interval=2 event-window=8"
#
# Usage: pipelines/inspect-camera.sh [MODEL] [--help]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/pipeline-env.sh"
help_or_usage 0 "$@"
model="${1:-demo-out/part.nfbmr}"
CAMERA="${CAMERA:-/dev/video0}"
SOURCE="${SOURCE:-v4l2src device=$CAMERA}"
SINK="${SINK:-autovideosink}"
RESULTS="${RESULTS:-results.jsonl}"

[ -f "$model" ] || { echo "inspect-camera.sh: model $model does not exist" >&2; exit 1; }
# shellcheck disable=SC2086
exec gst-launch-1.0 -e $SOURCE ! videoconvert \
    ! nfbmr model="$model" "${NFBMR_DEVICE[@]}" overlay=true results-location="$RESULTS" ${NFBMR_OPTIONS:-} \
    ! videoconvert ! $SINK

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# replay.sh: run a recording through the element again, as fast as it decodes, and write its verdicts.
# Compare them with the live run's: `nfbmr compare RECORDING/results.jsonl results.jsonl`. A recording made
# with LOSSLESS=1 replayed on the CPU gives the live scores exactly.
#
# Arguments:
#   RECORDING   a folder written by record.sh (its original stream, all segments in order, is replayed), or
#               a single video file
#   MODEL       the .nfbmr model
#
# Variables (environment):
#   RESULTS         the JSON-lines file to write; must not exist yet   (default: results.jsonl here)
#   DEVICE          auto, cpu, cuda or cuda:N                          (default: auto)
#   NFBMR_OPTIONS   further properties of the element, as in record.sh (the same ones for the same scores)
#
# Usage: pipelines/replay.sh RECORDING MODEL [--help]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/pipeline-env.sh"
help_or_usage 2 "$@"
recording="$1" model="$2"
RESULTS="${RESULTS:-results.jsonl}"

[ -f "$model" ] || { echo "replay.sh: model $model does not exist" >&2; exit 1; }
if [ -e "$RESULTS" ]; then
    echo "replay.sh: $RESULTS exists; remove it or set RESULTS (the element appends)" >&2
    exit 1
fi
if [ -d "$recording" ]; then
    segments=$(compgen -G "$recording/original-*" | head -1) || {
        echo "replay.sh: $recording holds no original-* segments (not a record.sh folder?)" >&2
        exit 1
    }
    source_fragment="splitmuxsrc location=$recording/original-*.${segments##*.} ! decodebin"
elif [ -f "$recording" ]; then
    source_fragment="uridecodebin uri=file://$(realpath "$recording")"
else
    echo "replay.sh: $recording does not exist" >&2
    exit 1
fi

# shellcheck disable=SC2086
gst-launch-1.0 -q $source_fragment ! videoconvert ! video/x-raw,format=BGRx \
    ! nfbmr model="$model" "${NFBMR_DEVICE[@]}" results-location="$RESULTS" ${NFBMR_OPTIONS:-} \
    ! fakesink sync=false
echo "replay.sh: verdicts in $RESULTS" >&2

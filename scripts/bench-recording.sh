#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Recording on the demo line, in one run: the CPU that inspecting alone takes against inspecting while
# recording (record.sh, H.264 and LOSSLESS=1), as frames per CPU-second, and how far a replay of each
# recording moves the scores from the live run's (nfbmr compare). The line is the demo's conveyor of test
# parts (run pipelines/demo.sh first) at its own speed, 15 frames/s, as record.sh plays files; on the CPU.
# Usage: scripts/bench-recording.sh [DEMO_OUT]   (default: demo-out)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pipeline-env.sh"
demo="$(realpath "${1:-$NFBMR_ROOT/demo-out}")"
model="$demo/part.nfbmr"
[ -f "$model" ] || { echo "bench-recording: no $model; run pipelines/demo.sh first" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# The demo's conveyor: 40 parts, 0.4 s each, 15 frames/s.
export SOURCE="multifilesrc location=$demo/data/Class1/Test/%04d.PNG start-index=1 stop-index=40 \
    caps=image/png,framerate=5/2 ! pngdec ! videoconvert ! videorate ! video/x-raw,framerate=15/1"
export DEVICE=cpu

cpu_seconds() { # command… -> CPU seconds it and its children used (user + system)
    /usr/bin/time -f "%U %S" -o cpu.txt "$@" >/dev/null 2>&1
    awk '{ printf "%.2f", $1 + $2 }' cpu.txt
}
frames() { grep -c '"frame"' "$1"; }
inspect_alone() {
    # shellcheck disable=SC2086
    gst-launch-1.0 -q $SOURCE ! clocksync ! videoconvert ! video/x-raw,format=BGRx \
        ! nfbmr model="$model" device=cpu overlay=true results-location=alone.jsonl ! fakesink
}

export -f inspect_alone
export model
alone=$(cpu_seconds bash -c inspect_alone)
h264=$(cpu_seconds "$NFBMR_ROOT/pipelines/record.sh" - "$model" h264)
lossless=$(LOSSLESS=1 cpu_seconds "$NFBMR_ROOT/pipelines/record.sh" - "$model" lossless)
RESULTS=h264-replay.jsonl "$NFBMR_ROOT/pipelines/replay.sh" h264 "$model" >/dev/null 2>&1
RESULTS=lossless-replay.jsonl "$NFBMR_ROOT/pipelines/replay.sh" lossless "$model" >/dev/null 2>&1

n=$(frames alone.jsonl)
rate() { awk -v n="$n" -v s="$1" -v a="$alone" 'BEGIN { printf "%.1f frames per CPU-second (%.2f CPU-s, %.2fx alone)", n / s, s, s / a }'; }
echo "frames $n (the demo's 40 parts at 15 frames/s), on the CPU"
echo "inspecting alone:               $(rate "$alone")"
echo "inspecting and recording H.264: $(rate "$h264")"
echo "inspecting and recording FFV1:  $(rate "$lossless")"
for kind in lossless h264; do
    echo "replay of the $kind recording against its live run:"
    nfbmr compare "$kind/results.jsonl" "$kind-replay.jsonl" | sed 's/^/  /' || true
done

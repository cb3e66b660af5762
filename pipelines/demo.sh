#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# demo.sh: the main job of nfbmr from a fresh checkout, on a synthetic inspection line.
#   1. sets the machine up (scripts/setup.sh: Debian packages, libtorch venv, backbone weights),
#   2. builds the CLI and the GStreamer plugin in release mode,
#   3. generates DAGM-like textured parts (`nfbmr synth`): good ones to train on, and a test batch of good
#      and defective parts,
#   4. trains an NF-BMR model on the good parts only (`nfbmr train`),
#   5. films the test batch as an indexing conveyor (each part under the camera for PART_SECONDS) and runs
#      the video through the `nfbmr` element with the overlay on, writing an annotated MP4 and JSON lines,
#   6. prints a summary: frames, frames flagged, agreement with the ground truth, frames per second.
#
# Variables (environment):
#   OUT           output folder                          (default: demo-out)
#   CLASS         synthetic texture class, 1 to 10       (default: 1)
#   TRAIN         training images to generate            (default: 120; about 20% are defective and skipped)
#   TEST          parts on the conveyor                  (default: 40, 20% defective)
#   SIZE          width and height of the recorded video (default: 512; the camera films the parts at their
#                 own 256 px, the resolution the model was trained on, and the recording is scaled after
#                 inspection)
#   FPS           video frame rate                       (default: 15)
#   PART_SECONDS  time each part spends under the camera (default: 0.4)
#   DEVICE        auto, cpu, cuda or cuda:N              (default: auto)
#
# Usage: pipelines/demo.sh [--help]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/pipeline-env.sh"
help_or_usage 0 "$@"

cd "$NFBMR_ROOT"
OUT="${OUT:-demo-out}"
CLASS="${CLASS:-1}"
TRAIN="${TRAIN:-120}"
TEST="${TEST:-40}"
SIZE="${SIZE:-512}"
FPS="${FPS:-15}"
PART_SECONDS="${PART_SECONDS:-0.4}"

scripts/setup.sh
cargo build --release --locked --workspace
nfbmr=target/release/nfbmr
export GST_PLUGIN_PATH="$NFBMR_ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

rm -rf "$OUT"
mkdir -p "$OUT"
$nfbmr synth --out "$OUT/data" --classes "$CLASS" --train "$TRAIN" --test "$TEST"
$nfbmr train --data "$OUT/data" --class "Class$CLASS" --out "$OUT/part.nfbmr" --device "$DEVICE"
$nfbmr info "$OUT/part.nfbmr"

# The conveyor: part N of the test batch is under the camera from (N-1)*PART_SECONDS on.
parts_per_second=$(awk -v s="$PART_SECONDS" 'BEGIN { printf "%d/%d", 1000, s * 1000 }')
test_dir="$OUT/data/Class$CLASS/Test"
echo "inspecting $TEST parts at $FPS frames/s ..."
start=$(date +%s.%N)
gst-launch-1.0 -q \
    multifilesrc location="$test_dir/%04d.PNG" start-index=1 stop-index="$TEST" \
        caps="image/png,framerate=(fraction)$parts_per_second" \
    ! pngdec ! videoconvert ! "video/x-raw,format=RGB" \
    ! videorate ! "video/x-raw,framerate=$FPS/1" \
    ! nfbmr model="$OUT/part.nfbmr" "${NFBMR_DEVICE[@]}" overlay=true results-location="$OUT/results.jsonl" \
    ! videoscale ! "video/x-raw,width=$SIZE,height=$SIZE" \
    ! videoconvert ! x264enc tune=zerolatency speed-preset=veryfast ! mp4mux ! filesink location="$OUT/inspection.mp4"
end=$(date +%s.%N)

# Labels.txt: index, label (1 = defect), file, 0, mask. results.jsonl: one object per frame with "pts" (ns)
# and "is-anomaly", and one per defect event start and end (with "event"). videorate shows the input picture nearest in time (the earlier one on a tie), so the
# part in view at pts is round(pts / PART_SECONDS) + 1 with halves rounded down.
awk -F'\t' -v part_ns="$(awk -v s="$PART_SECONDS" 'BEGIN { printf "%d", s * 1e9 }')" \
    -v seconds="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" '
    FNR == NR { if (FNR > 1) truth[$1 + 0] = $2 + 0; next }
    /"event":"start"/ { events++; next }
    /"event":/ { next }
    {
        match($0, /"pts":[0-9]+/); pts = substr($0, RSTART + 6, RLENGTH - 6) + 0
        flagged = ($0 ~ /"is-anomaly":true/)
        part = int((pts - 1) / part_ns + 0.5) + 1
        frames++; flags += flagged; defect_frames += truth[part]
        if (flagged == truth[part]) agree++; else if (flagged) false_alarms++; else misses++
    }
    END {
        printf "\nframes %d (%d showing a defective part): %d flagged, agreement with ground truth %.1f%%", \
            frames, defect_frames, flags, 100 * agree / frames
        printf " (%d false-alarm frames, %d missed frames)\n", false_alarms, misses
        printf "throughput %.1f frames/s (decode, inference, overlay and H.264 encode, wall clock)\n", \
            frames / seconds
        printf "defect events %d (debounced: 3 of 5 frames start one, 5 good frames end it)\n", events
    }' "$test_dir/Label/Labels.txt" "$OUT/results.jsonl"
echo "video: $OUT/inspection.mp4   results: $OUT/results.jsonl   model: $OUT/part.nfbmr"

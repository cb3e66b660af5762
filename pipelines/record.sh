#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# record.sh: inspect a camera or a file and record what the line saw, with the verdicts, in rolling segments:
#   OUTDIR/original-NNNNN.{ts,mkv}   the stream as the element saw it (H.264 in MPEG-TS; FFV1 in Matroska
#                                   with LOSSLESS=1, so that a replay reproduces the scores exactly)
#   OUTDIR/annotated-NNNNN.ts        the same frames with the heatmap overlay, H.264 in MPEG-TS
#   OUTDIR/results.jsonl             one JSON line per scored frame and per defect event
#   OUTDIR/clips/event-NNNNN.mkv     one clip of the annotated stream per defect event, from PRE_ROLL_SECONDS
#                                   before it to POST_ROLL_SECONDS after it, with event-NNNNN.json beside it
# Ctrl-C (SIGINT) ends the stream cleanly: every segment is finalised and playable. A file is recorded at
# its own speed, like a camera. A killed process (SIGKILL, power loss) loses at most the segments being
# written: both containers are read without an index at the end.
#
# Arguments:
#   URI       anything uridecodebin plays: rtsp://…, file:///…, http://…; or a gst-launch source fragment
#             through SOURCE (then URI is ignored and may be "-")
#   MODEL     the .nfbmr model
#   OUTDIR    the recording folder (created; must not hold a recording already)
#
# Variables (environment):
#   SOURCE            a gst-launch fragment producing raw or decodable video, instead of URI
#   SEGMENT_SECONDS   length of each segment                      (default: 60)
#   LOSSLESS          1: record the original losslessly (FFV1)    (default: 0)
#   CLIPS             0: no defect clips                          (default: 1)
#   PRE_ROLL_SECONDS  clip time before each event                 (default: 5)
#   POST_ROLL_SECONDS clip time after each event                  (default: 5)
#   RESULTS           the JSON-lines file                         (default: OUTDIR/results.jsonl)
#   DEVICE            auto, cpu, cuda or cuda:N                   (default: auto)
#   NFBMR_OPTIONS     further properties of the element, e.g. "inference-interval=2 event-window=8"
#
# Usage: pipelines/record.sh URI MODEL OUTDIR [--help]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/pipeline-env.sh"
help_or_usage 3 "$@"
uri="$1" model="$2" out="$3"
SEGMENT_SECONDS="${SEGMENT_SECONDS:-60}"
RESULTS="${RESULTS:-$out/results.jsonl}"

[ -f "$model" ] || { echo "record.sh: model $model does not exist" >&2; exit 1; }
mkdir -p "$out" || { echo "record.sh: cannot create $out" >&2; exit 1; }
[ -w "$out" ] || { echo "record.sh: cannot write to $out" >&2; exit 1; }
if compgen -G "$out/original-*" >/dev/null; then
    echo "record.sh: $out already holds a recording; choose another folder" >&2
    exit 1
fi

segment_ns=$((SEGMENT_SECONDS * 1000000000))
if [ "${LOSSLESS:-0}" = "1" ]; then
    # BGRx is what FFV1 stores without conversion, and what the element reads: no pixel changes on the way.
    original="avenc_ffv1 ! queue ! splitmuxsink muxer-factory=matroskamux location=$out/original-%05d.mkv"
else
    original="videoconvert ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=30 ! h264parse ! queue ! \
        splitmuxsink muxer-factory=mpegtsmux location=$out/original-%05d.ts"
fi
clips=""
if [ "${CLIPS:-1}" = "1" ]; then
    mkdir -p "$out/clips"
    pre_roll_ns=$((${PRE_ROLL_SECONDS:-5} * 1000000000))
    post_roll_ns=$((${POST_ROLL_SECONDS:-5} * 1000000000))
    clips="nfbmrclips location=$out/clips/event-%05d.mkv pre-roll=$pre_roll_ns post-roll=$post_roll_ns !"
fi
# config-interval=-1: parameter sets at every keyframe, where segments and clips may start.
annotated="x264enc tune=zerolatency speed-preset=veryfast key-int-max=30 ! h264parse config-interval=-1 ! \
    $clips queue ! splitmuxsink muxer-factory=mpegtsmux location=$out/annotated-%05d.ts"
source_fragment="${SOURCE:-uridecodebin uri=$uri}"

echo "record.sh: recording to $out (Ctrl-C to stop)" >&2
# -e: Ctrl-C sends EOS, which finalises every segment before the pipeline stops. clocksync: a file plays at
# its own speed, as a camera would (splitmuxsink in GStreamer 1.22 can stall at the end of a stream fed
# faster than real time).
# shellcheck disable=SC2086
exec gst-launch-1.0 -e $source_fragment ! clocksync ! videoconvert ! video/x-raw,format=BGRx ! tee name=frames \
    frames. ! queue ! $original max-size-time="$segment_ns" \
    frames. ! queue ! nfbmr model="$model" "${NFBMR_DEVICE[@]}" overlay=true results-location="$RESULTS" \
        ${NFBMR_OPTIONS:-} ! videoconvert ! $annotated max-size-time="$segment_ns"

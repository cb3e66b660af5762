#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Side by side, in one run, per frame size: the backbone alone and the whole detector (`nfbmr bench`), the
# PyTorch eager reference of the same model file (scripts/eager_reference.py, set-up venv), and the element in
# `videotestsrc ! nfbmr ! fakesink sync=false` with the heatmap overlay off and on, and the same pipeline with
# `identity` for nfbmr (what making the frames costs). A pipeline's time per frame is
# (t(1 + N frames) - t(1 frame)) / N, which cancels start-up and model load. Then N live 30 frames/s
# cameras sharing one engine (plugin/examples/streams.rs): frames each stream delivered and their latency.
# Usage: scripts/bench-element.sh MODEL.nfbmr [FRAMES] [WxH ...]   (default: 200 frames, 640x480 1280x720)
# Environment: DEVICE (auto), PRECISION (fp32), EAGER=0 skips the reference, STREAMS (1,4 on the CPU,
# 1,4,16,50 on CUDA; empty skips them), STREAM_SIZE (1920x1080 on CUDA, else 640x480), SECONDS_PER_SETTING (8), MAX_BATCH (1,16).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
model="${1:?usage: scripts/bench-element.sh MODEL.nfbmr [FRAMES] [WxH ...]}"
frames="${2:-200}"
shift $(( $# >= 2 ? 2 : 1 ))
sizes=("${@:-640x480}")
[ $# -gt 0 ] || sizes=(640x480 1280x720)
export GST_PLUGIN_PATH="$NFBMR_ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
nfbmr="$NFBMR_ROOT/target/release/nfbmr"
device="${DEVICE:-auto}"
precision="${PRECISION:-fp32}"
field() { sed "s/.*\"$1\":\"\{0,1\}\([^,\"]*\).*/\1/"; }

# The device `auto` resolves to, so that every part of the run uses the same one.
case $("$nfbmr" bench --model "$model" --device "$device" --frames 1 --json | field device) in
    cuda*) device=cuda on_gpu=1 ;;
    *) device=cpu on_gpu=0 ;;
esac
echo "device $device, precision $precision, $frames element frames per size"

run() { # frames width height element -> seconds
    local start end
    start=$(date +%s.%N)
    gst-launch-1.0 -q videotestsrc num-buffers="$1" ! "video/x-raw,format=RGB,width=$2,height=$3" \
        ! $4 ! fakesink sync=false
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}

pipeline_ms() { # width height element -> ms per frame
    local one many
    one=$(run 1 "$1" "$2" "$3")
    many=$(run $((frames + 1)) "$1" "$2" "$3")
    awk -v one="$one" -v many="$many" -v n="$frames" 'BEGIN { print (many - one) / n * 1000 }'
}

eager_ms() { # width height -> ms per frame, or nan
    if [ "${EAGER:-1}" = 0 ]; then echo nan; return; fi
    python3 "$NFBMR_ROOT/scripts/eager_reference.py" "$model" --width "$1" --height "$2" --frames 30 \
        --device "$device" | field eager-ms
}

element() { # overlay -> the element under test
    echo "nfbmr model=$model device=$device precision=$precision overlay=$1"
}

printf "%-10s %9s %9s %9s %9s %9s %9s %9s %9s %8s\n" size backbone detector eager "det/eager" \
    overlay source element "+overlay" "det/elem"
for size in "${sizes[@]}"; do
    width=${size%x*}; height=${size#*x}
    bench=$("$nfbmr" bench --model "$model" --device "$device" --precision "$precision" \
        --width "$width" --height "$height" --frames 50 --json)
    eager=$(eager_ms "$width" "$height")
    source=$(pipeline_ms "$width" "$height" identity)
    plain=$(pipeline_ms "$width" "$height" "$(element false)")
    drawn=$(pipeline_ms "$width" "$height" "$(element true)")
    awk -v s="$size" -v b="$(field backbone-ms <<<"$bench")" -v d="$(field full-ms <<<"$bench")" \
        -v o="$(field overlay-ms <<<"$bench")" -v g="$eager" -v c="$source" -v e="$plain" -v v="$drawn" \
        'BEGIN { printf "%-10s %9.2f %9.2f %9.2f %9.3f %9.2f %9.2f %9.2f %9.2f %8.3f\n",
            s, b, d, g, d / g, o, c, e, v, d / (e - c) }'
done
echo "(milliseconds per frame. det/eager: the detector's time over eager PyTorch's. source: the same pipeline"
echo " with identity for nfbmr, making and moving the frames. det/elem: the element's frame rate, the source's"
echo " time taken out, over the detector's. overlay: blending the heatmap alone, on the CPU)"

streams="${STREAMS-$([ "$on_gpu" = 1 ] && echo 1,4,16,50 || echo 1,4)}"
[ -n "$streams" ] || exit 0
stream_size="${STREAM_SIZE:-$([ "$on_gpu" = 1 ] && echo 1920x1080 || echo 640x480)}"
echo
echo "live cameras at 30 frames/s, $stream_size RGB, sharing one engine, ${SECONDS_PER_SETTING:-8} s each:"
"$NFBMR_ROOT/target/release/examples/streams" --model "$model" --device "$device" --precision "$precision" \
    --streams "$streams" --max-batch "${MAX_BATCH:-1,16}" --size "$stream_size" \
    --seconds "${SECONDS_PER_SETTING:-8}"

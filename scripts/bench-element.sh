#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Side by side, per frame size: the backbone alone and the whole detector (`nfbmr bench`), the PyTorch eager
# reference of the same model file (scripts/eager_reference.py, set-up venv), and the element's own time per
# frame in `videotestsrc ! nfbmr ! fakesink sync=false` with the heatmap overlay off and on (medians, from
# GStreamer's latency tracer: scripts/element-times.sh). Each round measures every part within seconds of
# the others, so that a host whose speed wanders (a shared VM) slows them alike: compare within a row.
# Then N live 30 frames/s cameras sharing one engine (plugin/examples/streams.rs): frames each stream
# delivered and their latency.
# Usage: scripts/bench-element.sh MODEL.nfbmr [FRAMES] [WxH ...]   (default: 100 frames, 640x480 1280x720)
# Environment: DEVICE (auto), PRECISION (fp32), ROUNDS (3), EAGER=0 skips the reference, STREAMS (1,4 on the
# CPU, 1,4,16,50 on CUDA; empty skips them), STREAM_SIZE (1920x1080 on CUDA, else 640x480),
# SECONDS_PER_SETTING (8), MAX_BATCH (1,16).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
model="${1:?usage: scripts/bench-element.sh MODEL.nfbmr [FRAMES] [WxH ...]}"
frames="${2:-100}"
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

element_ms() { # width height overlay -> the element's median ms per frame
    "$NFBMR_ROOT/scripts/element-times.sh" videotestsrc num-buffers="$frames" \
        ! "video/x-raw,format=RGB,width=$1,height=$2" \
        ! nfbmr name=measured model="$model" device="$device" precision="$precision" overlay="$3" \
        ! fakesink sync=false | awk '$1 == "measured" { print $5 }'
}

eager_ms() { # width height -> ms per frame, or nan
    if [ "${EAGER:-1}" = 0 ]; then echo nan; return; fi
    python3 "$NFBMR_ROOT/scripts/eager_reference.py" "$model" --width "$1" --height "$2" --frames 30 \
        --device "$device" | field eager-ms
}

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
printf "%-6s %-10s %9s %9s %9s %9s %9s %9s %9s %8s\n" round size backbone detector eager "det/eager" \
    overlay element "+overlay" "det/elem"
for round in $(seq "${ROUNDS:-3}"); do
    for size in "${sizes[@]}"; do
        width=${size%x*}; height=${size#*x}
        bench=$("$nfbmr" bench --model "$model" --device "$device" --precision "$precision" \
            --width "$width" --height "$height" --frames 50 --json)
        eager=$(eager_ms "$width" "$height")
        plain=$(element_ms "$width" "$height" false)
        drawn=$(element_ms "$width" "$height" true)
        awk -v r="$round" -v s="$size" -v b="$(field backbone-ms <<<"$bench")" -v d="$(field full-ms <<<"$bench")" \
            -v o="$(field overlay-ms <<<"$bench")" -v g="$eager" -v e="$plain" -v v="$drawn" \
            'BEGIN { printf "%-6s %-10s %9.2f %9.2f %9.2f %9.3f %9.2f %9.2f %9.2f %8.3f\n",
                r, s, b, d, g, d / g, o, e, v, d / e }'
    done
done | tee "$rows"
# A round the host slowed down in the middle of gives one wild ratio; the median of the rounds does not.
for size in "${sizes[@]}"; do
    awk -v s="$size" '$2 == s { eager[++n] = $6; element[n] = $10 }
        function median(v, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
        END { printf "%-6s %-10s %29s %9.3f %29s %8.3f\n", "median", s, "", median(eager, n), "", median(element, n) }' "$rows"
done
echo "(milliseconds per frame, medians. det/eager: the detector's time over eager PyTorch's. overlay: blending"
echo " the heatmap alone, on the CPU. element: the element's time per frame in the pipeline, from the frame's"
echo " arrival to its leaving with its verdict. det/elem: the element's frame rate over the detector's)"

streams="${STREAMS-$([ "$on_gpu" = 1 ] && echo 1,4,16,50 || echo 1,4)}"
[ -n "$streams" ] || exit 0
stream_size="${STREAM_SIZE:-$([ "$on_gpu" = 1 ] && echo 1920x1080 || echo 640x480)}"
echo
echo "live cameras at 30 frames/s, $stream_size RGB, sharing one engine, ${SECONDS_PER_SETTING:-8} s each:"
"$NFBMR_ROOT/target/release/examples/streams" --model "$model" --device "$device" --precision "$precision" \
    --streams "$streams" --max-batch "${MAX_BATCH:-1,16}" --size "$stream_size" \
    --seconds "${SECONDS_PER_SETTING:-8}"

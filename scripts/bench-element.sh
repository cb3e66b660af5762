#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Element overhead: frames per second of `videotestsrc ! nfbmr ! fakesink sync=false`, with the heatmap overlay
# off and on, against the detector's own per-frame time (`nfbmr bench`) on the same frame size, measured in
# the same run. The element's time per frame is (t(1 + N frames) - t(1 frame)) / N, which cancels start-up
# and model load.
# Usage: scripts/bench-element.sh MODEL.nfbmr [FRAMES] [WxH ...]   (default: 200 frames, 640x480 1280x720)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
model="${1:?usage: scripts/bench-element.sh MODEL.nfbmr [FRAMES] [WxH ...]}"
frames="${2:-200}"
shift $(( $# >= 2 ? 2 : 1 ))
sizes=("${@:-640x480}")
[ $# -gt 0 ] || sizes=(640x480 1280x720)
export GST_PLUGIN_PATH="$NFBMR_ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
nfbmr="$NFBMR_ROOT/target/release/nfbmr"

run() { # frames width height overlay -> seconds
    local start end
    start=$(date +%s.%N)
    gst-launch-1.0 -q videotestsrc num-buffers="$1" \
        ! "video/x-raw,format=RGB,width=$2,height=$3" \
        ! nfbmr model="$model" overlay="$4" ! fakesink sync=false
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}

element_ms() { # width height overlay -> ms per frame
    local one many
    one=$(run 1 "$1" "$2" "$3")
    many=$(run $((frames + 1)) "$1" "$2" "$3")
    awk -v one="$one" -v many="$many" -v n="$frames" 'BEGIN { print (many - one) / n * 1000 }'
}

printf "%-10s %12s %12s %12s %12s %12s %10s\n" size "detector ms" "overlay ms" "element ms" \
    "with overlay" "element fps" overhead
for size in "${sizes[@]}"; do
    width=${size%x*}; height=${size#*x}
    bench=$("$nfbmr" bench --model "$model" --width "$width" --height "$height" --frames 50 --json)
    detector_ms=$(sed 's/.*"full-ms":\([0-9.]*\).*/\1/' <<<"$bench")
    overlay_ms=$(sed 's/.*"overlay-ms":\([0-9.]*\).*/\1/' <<<"$bench")
    plain=$(element_ms "$width" "$height" false)
    drawn=$(element_ms "$width" "$height" true)
    awk -v s="$size" -v d="$detector_ms" -v o="$overlay_ms" -v e="$plain" -v v="$drawn" 'BEGIN {
        printf "%-10s %12.2f %12.2f %12.2f %12.2f %12.1f %9.1f%%\n", s, d, o, e, v, 1000 / e, (e / d - 1) * 100 }'
done

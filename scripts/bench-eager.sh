#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The native detector against the PyTorch eager reference of the same model file (scripts/eager_reference.py,
# in the set-up venv), per frame, on the same textured frame: median milliseconds of each, three rounds
# interleaved, and their ratio (the issue's CPU target: the detector at most 0.8x the eager time).
# Usage: scripts/bench-eager.sh MODEL.nfbmr [WxH ...]   (default 640x480; FRAMES, default 30, per round;
#        DEVICE, default cpu, for the detector; the reference runs on the CPU)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
model="${1:?usage: scripts/bench-eager.sh MODEL.nfbmr [WxH ...]}"
shift
sizes=("${@:-640x480}")
[ $# -gt 0 ] || sizes=(640x480)
frames="${FRAMES:-30}"
nfbmr="$NFBMR_ROOT/target/release/nfbmr"
field() { sed "s/.*\"$1\":\([0-9.]*\).*/\1/"; }

printf "%-10s %6s %14s %12s %8s\n" size round "detector ms" "eager ms" ratio
for size in "${sizes[@]}"; do
    width=${size%x*}; height=${size#*x}
    for round in 1 2 3; do
        native=$("$nfbmr" bench --model "$model" --device "${DEVICE:-cpu}" --width "$width" --height "$height" \
            --frames "$frames" --json | field full-ms)
        eager=$(python3 "$NFBMR_ROOT/scripts/eager_reference.py" "$model" --width "$width" --height "$height" \
            --frames "$frames" | field eager-ms)
        awk -v s="$size" -v r="$round" -v n="$native" -v e="$eager" \
            'BEGIN { printf "%-10s %6d %14.2f %12.2f %8.3f\n", s, r, n, e, n / e }'
    done
done

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# demo.sh: the main job of nfbmr from a fresh checkout, on synthetic inspection images.
#   1. sets the machine up (scripts/setup.sh: Debian packages, libtorch venv, backbone weights),
#   2. builds the CLI and the plugin in release mode,
#   3. generates a DAGM-like texture class (`nfbmr synth`): good parts for training, good and
#      defective parts for testing,
#   4. trains an NF-BMR model on the good parts only (`nfbmr train`),
#   5. scores the test parts (`nfbmr score`), writing heatmap overlays, and prints a summary:
#      parts scored, parts flagged, agreement with the ground truth.
#
# Variables (environment):
#   OUT     output folder                       (default: demo-out)
#   CLASS   synthetic texture class, 1 to 3     (default: 1)
#   TRAIN   training images to generate         (default: 120, about 20% of them defective and skipped)
#   TEST    test images to generate             (default: 40)
#   DEVICE  auto, cpu, cuda or cuda:N           (default: auto)
#
# Usage: pipelines/demo.sh [--help]
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    sed -n '3,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi

source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$NFBMR_ROOT"
OUT="${OUT:-demo-out}"
CLASS="${CLASS:-1}"
TRAIN="${TRAIN:-120}"
TEST="${TEST:-40}"
DEVICE="${DEVICE:-auto}"

scripts/setup.sh
cargo build --release --locked --workspace
nfbmr=target/release/nfbmr

rm -rf "$OUT"
mkdir -p "$OUT"
$nfbmr synth --out "$OUT/data" --classes "$CLASS" --train "$TRAIN" --test "$TEST"
$nfbmr train --data "$OUT/data" --class "Class$CLASS" --out "$OUT/part.nfbmr" --device "$DEVICE"
$nfbmr info "$OUT/part.nfbmr"

test_dir="$OUT/data/Class$CLASS/Test"
$nfbmr score --model "$OUT/part.nfbmr" --device "$DEVICE" --heatmap "$OUT/heatmaps" "$test_dir"/*.PNG \
    > "$OUT/scores.tsv"

# Labels.txt: index, label (1 = defect), file, 0, mask. scores.tsv: path, score, raw, verdict.
awk -F'\t' '
    FNR == NR { if (FNR > 1) truth[$3] = $2; next }
    {
        n = split($1, parts, "/"); file = parts[n]; flagged = ($4 == "DEFECT")
        scored++; flags += flagged; defects += truth[file]
        if (flagged == truth[file]) agree++
        else if (flagged) false_alarms++
        else misses++
    }
    END {
        printf "\nscored %d parts (%d defective): %d flagged, agreement with ground truth %.1f%%", \
            scored, defects, flags, 100 * agree / scored
        printf " (%d false alarms, %d misses)\n", false_alarms, misses
    }' "$test_dir/Label/Labels.txt" "$OUT/scores.tsv"
echo "heatmaps: $OUT/heatmaps/   scores: $OUT/scores.tsv   model: $OUT/part.nfbmr"

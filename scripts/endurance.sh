#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# endurance.sh: the long run of plugin/tests/endurance.rs in one process: CYCLES times NULL → PLAYING → NULL
# and PAUSED ↔ PLAYING, SWAPS model swaps while streaming, then a soak of FRAMES frames. Prints the threads
# and the resident memory before and after, and fails on a leaked thread or 5% memory growth.
#
# Variables (environment): CYCLES (default 200), SWAPS (100), FRAMES (100000)
# Usage: scripts/endurance.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$NFBMR_ROOT"
export CYCLES="${CYCLES:-200}" SWAPS="${SWAPS:-100}" FRAMES="${FRAMES:-100000}"
echo "endurance.sh: $CYCLES cycles, $SWAPS swaps, $FRAMES frames" >&2
G_DEBUG=fatal_warnings cargo test --release -p gst-plugin-nfbmr --test endurance -- \
    --ignored --nocapture --exact long_run

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The real-image development set (docs/quality.md): good frames of six real surfaces cut from photographs
# that Debian's mypaint-data-extras and PyPI's scikit-image ship, and defects drawn on the held-out frames
# by `nfbmr synth --from`. Writes OUT/photos/<material>/good/ and OUT/set/<material>/ (MVTec AD layout),
# ready for `nfbmr benchmark --data OUT/set`. Deterministic; a minute or so.
# Usage: scripts/real-dev-set.sh OUT
set -euo pipefail
[ $# -eq 1 ] || { sed -n '3,7p' "$0" >&2; exit 2; }
out="$1"
here="$(dirname "${BASH_SOURCE[0]}")"
NFBMR_EXTRA_PACKAGES=mypaint-data-extras "$here/setup.sh"
source "$here/env.sh"
cargo build --release --quiet --bin nfbmr
rm -rf "$out/photos" "$out/set"
python "$here/real_dev_set.py" "$out/photos"
for good in "$out"/photos/*/good; do
    material="$(basename "$(dirname "$good")")"
    # The held-out frames are the last 30 of 130 in name order (real_dev_set.py's TEST and TRAIN).
    "$NFBMR_ROOT/target/release/nfbmr" synth --from "$good" --out "$out/set" --category "$material" \
        --test-share 0.2308
done

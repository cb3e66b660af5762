#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# A real-image development set (docs/quality.md): good frames of six real surfaces cut from photographs
# that Debian and PyPI packages ship, and defects drawn on the held-out frames by `nfbmr synth --from`.
# SET is photos-512 (the default; mypaint-data-extras and scikit-image) or surfaces-1024 (ufoai-textures,
# 330 MB, installed on first use). Writes OUT/photos/<material>/good/ and OUT/set/<material>/ (MVTec AD
# layout), ready for `nfbmr benchmark --data OUT/set`. Deterministic; a minute or two.
# Usage: scripts/real-dev-set.sh OUT [SET]
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '3,8p' "$0" >&2; exit 2; }
out="$1"
dev_set="${2:-photos-512}"
case "$dev_set" in
    photos-512) package=mypaint-data-extras ;;
    surfaces-1024) package=ufoai-textures ;;
    *) echo "real-dev-set.sh: unknown set $dev_set (photos-512 or surfaces-1024)" >&2; exit 2 ;;
esac
here="$(dirname "${BASH_SOURCE[0]}")"
NFBMR_EXTRA_PACKAGES="$package" "$here/setup.sh"
source "$here/env.sh"
cargo build --release --quiet --bin nfbmr
rm -rf "$out/photos" "$out/set"
python "$here/real_dev_set.py" "$out/photos" "$dev_set"
for good in "$out"/photos/*/good; do
    material="$(basename "$(dirname "$good")")"
    "$NFBMR_ROOT/target/release/nfbmr" synth --from "$good" --out "$out/set" --category "$material" \
        --test-share "$(cat "$out/photos/test-share")"
done

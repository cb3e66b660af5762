#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The install test: `meson install` into a temporary prefix, then, with the checkout's venv moved out of
# reach, the installed plugin, CLI and scripts must work on their own: no RUNPATH into the checkout, every
# library found under the prefix or the system, gst-inspect-1.0 lists the elements, the CLI trains a model
# and a pipeline and an installed script score with it.
# Usage: scripts/test-install.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$NFBMR_ROOT"
work="$(mktemp -d)"
prefix="$work/prefix"
plugins="$prefix/lib/gstreamer-1.0"
restore() {
    if [ -d "$NFBMR_VENV.out-of-reach" ]; then mv "$NFBMR_VENV.out-of-reach" "$NFBMR_VENV"; fi
    rm -rf "$work"
}
trap restore EXIT
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }

meson setup "$work/build" --prefix "$prefix" -Dplugins-dir="$plugins" >/dev/null
meson install -C "$work/build" >/dev/null

mv "$NFBMR_VENV" "$NFBMR_VENV.out-of-reach"
for installed in "$plugins/libgstnfbmr.so" "$prefix/bin/nfbmr"; do
    readelf -d "$installed" | grep -q "RUNPATH.*\$ORIGIN" || fail "$installed has no \$ORIGIN RUNPATH"
    ! readelf -d "$installed" | grep -q "$NFBMR_ROOT" || fail "$installed still points into $NFBMR_ROOT"
    missing="$(ldd "$installed" | grep "not found" || true)"
    [ -z "$missing" ] || fail "$installed: $missing"
    ldd "$installed" | grep -q "libtorch_cpu.so => $prefix/" || fail "$installed does not use the installed libtorch"
done

export GST_PLUGIN_PATH="$plugins" GST_REGISTRY="$work/registry.bin" PATH="$prefix/bin:/usr/bin:/bin"
gst-inspect-1.0 nfbmr | grep "NF-BMR defect detector" >/dev/null || fail "gst-inspect-1.0 nfbmr"
inspected="$(gst-inspect-1.0 "$plugins/libgstnfbmr.so")"
for element in nfbmr nfbmrclips fallbacksrc; do
    grep -q "^  $element:" <<<"$inspected" || fail "the plugin does not provide $element"
done

# A model from a few pictures, with the installed CLI only.
mkdir -p "$work/good"
gst-launch-1.0 -q videotestsrc num-buffers=6 pattern=smpte ! video/x-raw,width=64,height=64 ! pngenc \
    ! multifilesink location="$work/good/good-%02d.png"
nfbmr train --data "$work/good" --out "$work/part.nfbmr" --device cpu --image-size 64 --epochs 1 \
    --hold-out 0.34 2>/dev/null
nfbmr info "$work/part.nfbmr" | grep "64x64" >/dev/null || fail "nfbmr info"

gst-launch-1.0 -q videotestsrc num-buffers=3 ! videoconvert ! nfbmr model="$work/part.nfbmr" device=cpu \
    results-location="$work/pipeline.jsonl" ! fakesink
scored() { grep -c '"frame"' "$1"; }
[ "$(scored "$work/pipeline.jsonl")" -eq 3 ] || fail "the pipeline scored $(scored "$work/pipeline.jsonl") frames"

SOURCE="videotestsrc num-buffers=4" SINK=fakesink RESULTS="$work/script.jsonl" DEVICE=cpu \
    "$prefix/share/nfbmr/pipelines/inspect-camera.sh" "$work/part.nfbmr" >/dev/null
[ "$(scored "$work/script.jsonl")" -eq 4 ] || fail "inspect-camera.sh scored $(scored "$work/script.jsonl") frames"
echo "test-install: the installed plugin, CLI and scripts work without the checkout's venv"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Called by meson.build: builds the plugin and the two programs in release mode (in the checkout's target/,
# shared with plain cargo builds so that libtorch-heavy crates compile once) and copies them into meson's
# build folder OUTDIR.
# Usage: scripts/meson-cargo-build.sh OUTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# One package at a time: built together, cargo would give the plugin the CLI's features of the core crate.
for package in gst-plugin-nfbmr nfbmr nfbmr-rtsp-serve; do
    cargo build --release --locked -p "$package" --manifest-path "$NFBMR_ROOT/Cargo.toml"
done
for built in libgstnfbmr.so nfbmr nfbmr-rtsp-serve; do
    cp "$NFBMR_ROOT/target/release/$built" "$1/$built"
done

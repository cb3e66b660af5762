#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Called by meson.build: builds the plugin in release mode (in the checkout's target/, shared with plain
# cargo builds so that libtorch-heavy crates compile once) and copies it to the path meson expects.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cargo build --release --locked -p gst-plugin-nfbmr --manifest-path "$NFBMR_ROOT/Cargo.toml"
cp "$NFBMR_ROOT/target/release/libgstnfbmr.so" "$1"

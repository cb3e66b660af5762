#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The test command: set-up, formatting, lints, every test (release build: the tests train models), then
# the install test (a station installed with meson, working without the checkout's venv).
# Usage: scripts/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$NFBMR_ROOT"
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets --release -- -D warnings
G_DEBUG=fatal_warnings cargo test --locked --workspace --release
scripts/test-install.sh

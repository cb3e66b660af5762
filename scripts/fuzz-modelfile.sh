#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# fuzz-modelfile.sh: fuzz the model-file loader (examples/fuzz_modelfile/) and print what the cases did.
# Findings (a panic, an abort, a hang, over a second, too much memory, an error without the file's name)
# are written to FINDINGS, each as the case's model file and a .txt saying what happened; keep them as
# regression files in tests/data/fuzz/ once fixed.
#
# Variables (environment): CASES (default 1000000), SEED (1), JOBS (2), FINDINGS (fuzz-findings)
# Usage: scripts/fuzz-modelfile.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$NFBMR_ROOT"
cargo build --release --example fuzz_modelfile
exec target/release/examples/fuzz_modelfile --cases "${CASES:-1000000}" --seed "${SEED:-1}" \
    --jobs "${JOBS:-2}" --findings "${FINDINGS:-fuzz-findings}"

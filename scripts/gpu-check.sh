#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The GPU check, in one go, on a set-up checkout of a machine with an NVIDIA GPU (scripts/setup.sh, then
# `cargo build --release --workspace --all-targets`): the tests that exercise CUDA, a model trained on the GPU,
# the side-by-side benchmark (scripts/bench-element.sh: backbone, detector, eager PyTorch and element at
# 640x480, 1280x720 and 1920x1080, overlay off and on, then 1, 4, 16 and 50 live 1080p30 cameras on one engine)
# in fp32 and fp16, and the quality cost of fp16 and bf16 on the docs/quality.md benchmark. Everything it
# prints goes to docs/benchmarks.md. CI never runs it.
# Usage: scripts/gpu-check.sh [WORKDIR]   (default /tmp/nfbmr-gpu-check; QUALITY=0 skips the quality part)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
work="${1:-/tmp/nfbmr-gpu-check}"
mkdir -p "$work"
nfbmr="$NFBMR_ROOT/target/release/nfbmr"
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

step "tests that run on CUDA when it is there"
(cd "$NFBMR_ROOT" && G_DEBUG=fatal_warnings cargo test --release --workspace --offline -q \
    --test cli --test pipelines --test engine -- --test-threads 2)

step "a model trained on the GPU"
"$nfbmr" synth --out "$work/data" --classes 1 --train 120 --test 40 >/dev/null
"$nfbmr" train --data "$work/data" --class Class1 --out "$work/part.nfbmr" --device cuda

for precision in fp32 fp16; do
    step "side by side, $precision"
    DEVICE=cuda PRECISION=$precision STREAMS=$([ "$precision" = fp32 ] && echo 1,4,16,50 || echo 16,50) \
        "$NFBMR_ROOT/scripts/bench-element.sh" "$work/part.nfbmr" 600 640x480 1280x720 1920x1080
done

step "batched throughput: the detector alone, 1920x1080"
for batch in 1 8 32; do
    "$nfbmr" bench --model "$work/part.nfbmr" --device cuda --width 1920 --height 1080 --frames 300 \
        --batch "$batch" --json
done

[ "${QUALITY:-1}" = 0 ] && exit 0
step "quality: trained once in fp32, scored in each precision"
"$nfbmr" benchmark --out "$work/q" --device cuda
for precision in fp32 fp16 bf16; do
    "$nfbmr" eval --model "$work/q/models" --data "$work/q/data" --class all --ablation --device cuda \
        --precision "$precision" --json "$work/q-$precision.json" | tail -3
done

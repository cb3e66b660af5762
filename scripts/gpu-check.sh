#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The GPU check, in one go, on a machine with an NVIDIA GPU where nfbmr is built (scripts/setup.sh, then
# `cargo build --release --workspace --all-targets`): a model trained on the GPU; the detector at 1920x1080 by
# batch size and precision; eager PyTorch on the same model file, one frame at a time, replayed as one CUDA
# graph (what removing launch overhead would give) and batched; 1, 4, 16 and 50 live 1080p30 cameras sharing
# one engine, with one and three frames in flight per element; one live camera under the latency tracer; the
# side-by-side table of scripts/bench-element.sh at 640x480, 1280x720 and 1920x1080; the tests (the engine's
# alone from a bundle of scripts/gpu-bundle.sh); and the quality cost of fp16 and bf16 on the docs/quality.md benchmark. Everything
# it prints goes to docs/benchmarks.md. CI never runs it.
# Usage: scripts/gpu-check.sh [WORKDIR]   (default /tmp/nfbmr-gpu-check; QUALITY=0 skips the quality part,
#        QUALITY=only runs it alone; REHEARSAL=1 runs every step on the CPU at 64x48 with a few frames and
#        streams, in about 4 minutes, to check the script before it spends device time)
# A part that fails is reported and the check goes on: device time is scarce, the other parts still count.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
work="${1:-/tmp/nfbmr-gpu-check}"
mkdir -p "$work"
nfbmr="$NFBMR_ROOT/target/release/nfbmr"
streams="$NFBMR_ROOT/target/release/examples/streams"
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

# What the check measures; a rehearsal keeps every step and shrinks the work.
device=cuda width=1920 height=1080 frames=100 batches="1 8 32" big_batch=32 train=120 test=40
cameras=1,4,16,50 graphed_cameras=1,16,50 yuv_cameras=16,50 warm_up=3 seconds=5 live_frames=300
table_sizes="640x480 1280x720 1920x1080"
if [ "${REHEARSAL:-0}" = 1 ]; then
    device=cpu width=64 height=48 frames=5 batches="1 2" big_batch=2 train=8 test=4
    cameras=1,2 graphed_cameras=1 yuv_cameras=2 warm_up=1 seconds=2 live_frames=30 table_sizes=64x48
    QUALITY=0
fi
size="${width}x$height"

quality() {
    step "quality: the benchmark trained once in fp32 (about 5 minutes on an H200), scored in each precision"
    time "$nfbmr" benchmark --out "$work/q" --device "$device" >/dev/null
    for precision in fp32 fp16 bf16; do
        echo "$precision:"
        "$nfbmr" eval --model "$work/q/models" --data "$work/q/data" --class all --device "$device" \
            --precision "$precision" --json "$work/q-$precision.json"
    done
}

step "machine"
[ "$device" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
# The whole check outlasts 10 minutes on an H200: QUALITY=only runs the quality part alone.
[ "${QUALITY:-1}" = only ] && { quality; exit; }

step "a model trained on $device"
"$nfbmr" synth --out "$work/data" --classes 1 --train "$train" --test "$test" >/dev/null
time "$nfbmr" train --data "$work/data" --class Class1 --out "$work/part.nfbmr" --device "$device" || exit 1
model="$work/part.nfbmr"

step "the detector on $size frames, by precision and batch (times per frame)"
for precision in fp32 fp16 bf16; do
    for batch in $batches; do
        "$nfbmr" bench --model "$model" --device "$device" --precision "$precision" --width "$width" \
            --height "$height" --frames "$frames" --batch "$batch" --json | sed "s/^/$precision /"
    done
done

step "the detector replayed from CUDA graphs, $size, by precision and batch (times per frame)"
for precision in fp32 fp16; do
    for batch in $batches; do
        "$nfbmr" bench --model "$model" --device "$device" --precision "$precision" --width "$width" \
            --height "$height" --frames "$frames" --batch "$batch" --cuda-graphs --json | sed "s/^/$precision graphs /"
    done
done

step "eager PyTorch on the same model file, $size: one by one, as one CUDA graph, in batches of $big_batch"
for options in "" --graph "--batch $big_batch"; do
    # shellcheck disable=SC2086 # the options are words
    python3 "$NFBMR_ROOT/scripts/eager_reference.py" "$model" --width "$width" --height "$height" \
        --frames "$frames" --device "$device" $options
done

step "live $size cameras at 30 frames/s sharing one engine, $warm_up s of warm-up"
for in_flight in 1 3; do
    echo "frames in flight per element: $in_flight"
    "$streams" --model "$model" --device "$device" --streams "$cameras" --max-batch 16 --size "$size" \
        --frames-in-flight "$in_flight" --warm-up "$warm_up" --seconds "$seconds"
done
echo "the same, 3 in flight, replayed from CUDA graphs:"
"$streams" --model "$model" --device "$device" --streams "$graphed_cameras" --max-batch 16 --size "$size" \
    --frames-in-flight 3 --warm-up "$warm_up" --seconds "$seconds" --cuda-graphs
echo "NV12 cameras (converted on the device), 3 in flight; then fp16:"
for precision in fp32 fp16; do
    "$streams" --model "$model" --device "$device" --precision "$precision" --format NV12 \
        --streams "$yuv_cameras" --max-batch 16 --size "$size" --frames-in-flight 3 --warm-up "$warm_up" \
        --seconds "$seconds"
done

step "one live $size camera under GStreamer's latency tracer: time spent in each element"
"$NFBMR_ROOT/scripts/element-times.sh" videotestsrc is-live=true pattern=ball num-buffers="$live_frames" \
    ! video/x-raw,format=RGB,width="$width",height="$height",framerate=30/1 \
    ! nfbmr model="$model" device="$device" ! fakesink sync=false

step "side by side: backbone, detector, eager PyTorch and the element, overlay off and on"
# shellcheck disable=SC2086 # the sizes are words
DEVICE="$device" STREAMS= ROUNDS=1 "$NFBMR_ROOT/scripts/bench-element.sh" "$model" "$live_frames" $table_sizes

step "tests, on $device where the test does not name the CPU"
if command -v cargo >/dev/null; then
    (cd "$NFBMR_ROOT" && G_DEBUG=fatal_warnings cargo test --release --workspace --offline -q \
        --test cli --test pipelines --test engine -- --test-threads 2)
else # a bundle of scripts/gpu-bundle.sh carries the engine's tests
    G_DEBUG=fatal_warnings "$NFBMR_ROOT/target/release/deps/engine" --test-threads 2
fi

[ "${QUALITY:-1}" = 0 ] || quality
step "done"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The GPU check for a machine that has an NVIDIA GPU and PyTorch but neither Rust nor GStreamer (a lent
# accelerator, say), in two steps:
#   scripts/gpu-bundle.sh pack TORCH_VERSION ARCHIVE   here, on a set-up checkout: builds the CLI, the plugin,
#       the streams example and the engine tests against the PyPI wheel of the GPU machine's libtorch (e.g.
#       2.11.0; tch's wrappers that it lacks are stubbed out, nfbmr uses none of them), and packs them with
#       Debian's GStreamer libraries and plugins and the weights of the default backbone, Lite1 (about 30 MB);
#   scripts/gpu-bundle.sh run ARCHIVE [WORKDIR]        there, from a checkout holding the archive: unpacks it,
#       points the loader at that machine's libtorch and runs scripts/gpu-check.sh (REHEARSAL=1 rehearses it
#       on a CPU machine with that torch, see gpu-check.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

pack() {
    local version="$1" archive="$2"
    local work="${GPU_BUNDLE_WORK:-/tmp/nfbmr-gpu-bundle}"
    local torch="$work/torch-$version/torch" src="$work/src" sys="$work/torch-sys"
    mkdir -p "$work"
    if [ ! -d "$torch/lib" ]; then
        pip download -q --no-deps "torch==$version" -d "$work/wheel-$version"
        unzip -q -o "$work/wheel-$version"/torch-*.whl 'torch/include/*' 'torch/lib/*' -d "$work/torch-$version"
    fi
    # libtorch_cuda's own libraries, found at link time in the set-up venv.
    ln -sfn "$(echo "$NFBMR_VENV"/lib/python3*/site-packages/nvidia)" "$work/torch-$version/nvidia"
    # This checkout as it is (uncommitted changes too), building torch-sys from a copy that can be patched.
    rm -rf "$src" && mkdir -p "$src"
    (cd "$NFBMR_ROOT" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -C "$src" -xf -
    local registry_copy
    registry_copy=$(ls -d "$HOME"/.cargo/registry/src/*/torch-sys-"$(torch_sys_version)" | head -1)
    [ -d "$sys" ] || cp -r "$registry_copy" "$sys"
    printf '\n[patch.crates-io]\ntorch-sys = { path = "%s" }\n' "$sys" >> "$src/Cargo.toml"

    local log="$work/build.log" tries=0
    until build "$src" "$torch" > "$log" 2>&1; do
        tries=$((tries + 1))
        local missing
        missing=$(grep -o "In function 'void atg_[a-z0-9_]*" "$log" | sed 's/.*void //' | sort -u)
        if [ "$tries" -gt 2 ] || [ -z "$missing" ]; then
            tail -30 "$log"
            exit 1
        fi
        echo "gpu-bundle: stubbing $(echo "$missing" | wc -l) tch wrappers that libtorch $version lacks"
        python3 - "$sys/libtch/torch_api_generated.cpp" $missing <<'EOF'
import re, sys
path, names = sys.argv[1], sys.argv[2:]
text = open(path).read()
for name in names:
    start = text.index("{", re.search(r"\bvoid " + re.escape(name) + r"\(", text).end())
    end = text.index("\n}\n", start)
    text = text[:start] + '{\n  PROTECT(throw std::runtime_error("not in this libtorch");)' + text[end:]
open(path, "w").write(text)
EOF
    done
    stage "${CARGO_TARGET_DIR:-$src/target}/release" "$work/stage"
    tar -C "$work/stage" -cJf "$archive" .
    echo "gpu-bundle: wrote $archive ($(du -h "$archive" | cut -f1))"
}

torch_sys_version() {
    grep -A1 '^name = "torch-sys"' "$NFBMR_ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p'
}

build() { # checkout libtorch
    local nvidia
    nvidia=$(ls -d "$2"/../nvidia/*/lib | tr '\n' ':')
    (cd "$1" && env -u LIBTORCH_USE_PYTORCH LIBTORCH="$2" LIBTORCH_BYPASS_VERSION_CHECK=1 \
        RUSTFLAGS="-C link-arg=-Wl,-rpath-link,${nvidia%:}" \
        cargo build --release -p nfbmr --bin nfbmr -p gst-plugin-nfbmr --lib --example streams &&
        env -u LIBTORCH_USE_PYTORCH LIBTORCH="$2" LIBTORCH_BYPASS_VERSION_CHECK=1 \
        RUSTFLAGS="-C link-arg=-Wl,-rpath-link,${nvidia%:}" \
        cargo test --release -p gst-plugin-nfbmr --test engine --no-run)
}

stage() { # built-dir stage-dir
    local built="$1" out="$2"
    rm -rf "$out"
    mkdir -p "$out/target/release/examples" "$out/target/release/deps" "$out/rt/lib" "$out/rt/gst" \
        "$out/rt/bin" "$out/rt/weights"
    cp "$built/nfbmr" "$built/libgstnfbmr.so" "$out/target/release/"
    cp "$built/examples/streams" "$out/target/release/examples/"
    cp "$(ls -t "$built"/deps/engine-* | grep -v '\.d$' | head -1)" "$out/target/release/deps/engine"
    strip --strip-debug "$out"/target/release/nfbmr "$out"/target/release/*.so \
        "$out"/target/release/examples/streams "$out"/target/release/deps/engine
    local plugins=/usr/lib/x86_64-linux-gnu/gstreamer-1.0
    for plugin in coreelements coretracers videotestsrc videoconvertscale app; do
        cp "$plugins/libgst$plugin.so" "$out/rt/gst/"
    done
    cp /usr/bin/gst-launch-1.0 /usr/bin/gst-inspect-1.0 \
        /usr/lib/x86_64-linux-gnu/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner "$out/rt/bin/"
    cp "${NFBMR_WEIGHTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nfbmr}/efficientnet-lite1.safetensors" \
        "$out/rt/weights/"
    # Every library these need from Debian, but not the C runtime or libtorch, which the GPU machine has.
    local base='^(libc|libm|libpthread|libdl|librt|libutil|libresolv|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so'
    for binary in "$out"/target/release/nfbmr "$out"/target/release/*.so "$out"/target/release/examples/* \
        "$out"/target/release/deps/* "$out"/rt/gst/*.so "$out"/rt/bin/*; do
        ldd "$binary" | awk '$3 ~ /^\/(usr\/)?lib\// { print $1, $3 }'
    done | sort -u | while read -r name path; do
        grep -Eq "$base" <<<"$name" || cp -L "$path" "$out/rt/lib/"
    done
}

run() {
    local archive="$1"
    shift
    tar -C "$NFBMR_ROOT" -xJf "$archive"
    local rt="$NFBMR_ROOT/rt" python torchlib
    python=$(command -v python3)
    torchlib=${TORCH_LIB:-$("$python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')}
    # Python keeps its own libraries: the eager reference runs under a python3 without the carried ones.
    mkdir -p "$rt/pybin"
    printf '#!/bin/sh\nunset LD_LIBRARY_PATH\nexec %s "$@"\n' "$python" > "$rt/pybin/python3"
    chmod +x "$rt/pybin/python3"
    export LD_LIBRARY_PATH="$rt/lib:$torchlib" PATH="$rt/pybin:$rt/bin:$PATH"
    export GST_PLUGIN_SYSTEM_PATH_1_0="$rt/gst" GST_PLUGIN_SCANNER="$rt/bin/gst-plugin-scanner"
    export GST_REGISTRY=/tmp/nfbmr-gpu-registry.bin NFBMR_WEIGHTS_DIR="$rt/weights"
    if ldd "$NFBMR_ROOT"/target/release/nfbmr "$rt"/bin/gst-launch-1.0 | grep "not found"; then
        exit 1
    fi
    exec "$NFBMR_ROOT/scripts/gpu-check.sh" "$@"
}

case "${1:-}" in
    pack) pack "${2:?TORCH_VERSION}" "$(realpath -m "${3:?ARCHIVE}")" ;;
    run) shift && run "$(realpath "${1:?ARCHIVE}")" "${@:2}" ;;
    *) sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//' && exit 2 ;;
esac

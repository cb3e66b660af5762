#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Run by `meson install`: makes the installed plugin and CLI stand on their own. libtorch's libraries (and,
# for a CUDA libtorch, NVIDIA's, which it finds relative to itself) are copied from the venv into
# LIBTORCH_DIR in the layout of the venv's site-packages (hard links where the file system allows), and the
# installed plugin and CLI find them through a RUNPATH relative to themselves ($ORIGIN).
# Usage: scripts/meson-install-libtorch.sh PLUGINS_DIR BIN_DIR LIBTORCH_DIR   (absolute, before DESTDIR)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
plugins="${DESTDIR:-}$1" bin="${DESTDIR:-}$2" libtorch="${DESTDIR:-}$3"

site="$("$NFBMR_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
copy() {
    mkdir -p "$(dirname "$2")"
    rm -rf "$2"
    cp -al "$1" "$2" 2>/dev/null || cp -a "$1" "$2"
}
copy "$site/torch/lib" "$libtorch/torch/lib"
# libtorch_python needs the Python interpreter; nothing of nfbmr loads it.
rm -f "$libtorch/torch/lib/libtorch_python.so"
if [ -d "$site/nvidia" ]; then
    for lib in "$site"/nvidia/*/lib; do
        copy "$lib" "$libtorch/nvidia/$(basename "$(dirname "$lib")")/lib"
    done
fi

torch_lib="$libtorch/torch/lib"
patchelf --set-rpath "\$ORIGIN/$(realpath -m --relative-to="$plugins" "$torch_lib")" "$plugins/libgstnfbmr.so"
patchelf --set-rpath "\$ORIGIN/$(realpath -m --relative-to="$bin" "$torch_lib")" "$bin/nfbmr"
echo "meson-install-libtorch: libtorch in $libtorch; the plugin and nfbmr find it relative to themselves"

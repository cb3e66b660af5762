#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Installs what nfbmr needs on a Debian 12 machine, idempotently (seconds when everything is present):
#   - Debian packages: GStreamer development files and plugins, meson, ninja, the DejaVu font (report charts),
#     the Mosquitto broker and clients and openssl (the MQTT tests: a broker and certificates of their own);
#   - a Python venv (.venv) holding PyPI torch 2.13.0, the libtorch the tch crate builds against;
#   - the EfficientNet-Lite0, Lite1 and Lite2 ImageNet weights, converted once to safetensors into the weights
#     cache ($NFBMR_WEIGHTS_DIR, default ~/.cache/nfbmr), with the reference features and photos the tests use.
# Usage: scripts/setup.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$NFBMR_ROOT"

packages=(
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
    gstreamer1.0-libav gstreamer1.0-rtsp libgstrtspserver-1.0-dev meson ninja-build patchelf pkg-config python3-venv
    python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 fonts-dejavu-core
    mosquitto mosquitto-clients openssl ca-certificates
)
# Further packages a script needs only when it runs (e.g. real-dev-set.sh's photographs).
read -r -a extra <<< "${NFBMR_EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# An install test stopped hard leaves the venv moved aside (scripts/test-install.sh): put it back.
if [ ! -d "$NFBMR_VENV" ] && [ -d "$NFBMR_VENV.out-of-reach" ]; then
    mv "$NFBMR_VENV.out-of-reach" "$NFBMR_VENV"
fi
# The venv is current when it was built from exactly this requirements file.
stamp="$NFBMR_VENV/.requirements.sha256"
wanted="$(sha256sum scripts/requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: preparing the Python venv with libtorch (a few GB, once)"
    [ -x "$NFBMR_VENV/bin/python" ] || python3 -m venv "$NFBMR_VENV"
    "$NFBMR_VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir -r scripts/requirements.txt
    echo "$wanted" > "$stamp"
fi

cache="${NFBMR_WEIGHTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nfbmr}"
converted=yes
for lite in efficientnet-lite0 efficientnet-lite1 efficientnet-lite2; do
    [ -f "$cache/$lite.safetensors" ] && [ -f "$cache/reference/$lite-taps.pt" ] || converted=no
done
if [ "$converted" = no ] || [ ! -f "$cache/photos/chelsea.png" ]; then
    echo "setup: converting the EfficientNet-Lite0, Lite1 and Lite2 weights into $cache"
    mkdir -p "$cache"
    "$NFBMR_VENV/bin/python" -W ignore scripts/prepare_weights.py "$cache"
fi
echo "setup: ready (libtorch $("$NFBMR_VENV/bin/python" -c 'import torch; print(torch.__version__)'), weights in $cache)"

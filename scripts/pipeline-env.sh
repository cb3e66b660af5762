# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by pipelines/*.sh: the checkout's environment, the plugin cargo built in target/release as
# GST_PLUGIN_PATH unless the caller set one (installed scripts use the installed plugin), and the element's
# device properties for DEVICE (auto, cpu, cuda or cuda:N, as the CLI takes it) in the array NFBMR_DEVICE.
# Scripts call `help_or_usage N "$@"` first: --help prints their header comment, fewer than N arguments too
# (as an error).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
DEVICE="${DEVICE:-auto}"
# The element takes the device as an enum and a CUDA index: cuda:1 is device=cuda device-index=1.
case "$DEVICE" in
    cuda:*) NFBMR_DEVICE=(device=cuda "device-index=${DEVICE#cuda:}") ;;
    *) NFBMR_DEVICE=("device=$DEVICE") ;;
esac
# In a checkout, what cargo built there (installed, the scripts use what GStreamer and PATH find).
if [ -d "$NFBMR_ROOT/target/release" ]; then
    export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$NFBMR_ROOT/target/release}"
    export PATH="$NFBMR_ROOT/target/release:$PATH"
fi

help_or_usage() {
    local needed="$1"
    shift
    local header
    header="$(sed -n '3,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//')"
    if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
        echo "$header"
        exit 0
    fi
    if [ $# -lt "$needed" ]; then
        echo "$header" >&2
        exit 2
    fi
}

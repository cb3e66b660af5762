# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by pipelines/*.sh: the checkout's environment, the plugin cargo built in target/release as
# GST_PLUGIN_PATH unless the caller set one (an installed plugin is found without it), and the element's
# device properties for DEVICE (auto, cpu, cuda or cuda:N, as the CLI takes it) in the array NFBMR_DEVICE.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$NFBMR_ROOT/target/release}"
DEVICE="${DEVICE:-auto}"
# The element takes the device as an enum and a CUDA index: cuda:1 is device=cuda device-index=1.
case "$DEVICE" in
    cuda:*) NFBMR_DEVICE=(device=cuda "device-index=${DEVICE#cuda:}") ;;
    *) NFBMR_DEVICE=("device=$DEVICE") ;;
esac

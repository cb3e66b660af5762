# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by the other scripts: the environment that builds and runs nfbmr from this checkout.
# libtorch comes from the venv's PyPI torch (tch's LIBTORCH_USE_PYTORCH route).
NFBMR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NFBMR_ROOT
export NFBMR_VENV="${NFBMR_VENV:-$NFBMR_ROOT/.venv}"
export LIBTORCH_USE_PYTORCH=1
export PATH="$NFBMR_VENV/bin:$HOME/.cargo/bin:$PATH"

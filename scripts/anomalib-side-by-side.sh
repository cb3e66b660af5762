#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# anomalib's FastFlow and PatchCore on the same backbone, input and splits as nfbmr's models
# (scripts/anomalib_side_by_side.py), in a venv of their own (.venv-anomalib, made on first use, sharing
# the set-up venv's torch). Then `nfbmr eval … --peers OUT.json` or `nfbmr benchmark … --peers OUT.json`
# shows them beside nfbmr's figures.
# Usage: scripts/anomalib-side-by-side.sh DATA MODELS OUT.json [--seeds N] [--first-seed S] [--fastflow-epochs N]
#        [--coreset SHARE] [--classes A,B] [--run FastFlow,PatchCore]
set -euo pipefail
[ $# -ge 3 ] || { sed -n '3,8p' "$0" >&2; exit 2; }
here="$(dirname "${BASH_SOURCE[0]}")"
"$here/setup.sh"
source "$here/env.sh"
venv="$NFBMR_ROOT/.venv-anomalib"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$here/requirements-anomalib.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "anomalib-side-by-side: preparing $venv (once)"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    # The set-up venv's packages (torch above all) are seen from this one, after its own.
    site="$("$NFBMR_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    own="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$site" > "$own/nfbmr-venv.pth"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir -r "$here/requirements-anomalib.txt"
    echo "$wanted" > "$stamp"
fi
"$venv/bin/python" "$here/anomalib_side_by_side.py" "$@"

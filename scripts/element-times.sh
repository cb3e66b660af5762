#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Time each element of a pipeline spends on a buffer, from GStreamer's latency tracer (flags=element: from a
# buffer entering the element to its leaving it), one line per element: frames, median, mean and largest in
# milliseconds. A median compares with `nfbmr bench`'s medians, which a pipeline's wall time per frame (a
# mean, with the source and start-up in it) does not.
# Usage: scripts/element-times.sh PIPELINE...   (gst-launch-1.0 words, as in scripts/element-times.sh
#        videotestsrc num-buffers=100 ! nfbmr model=M ! fakesink sync=false)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
export GST_PLUGIN_PATH="$NFBMR_ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
GST_DEBUG_NO_COLOR=1 GST_TRACERS='latency(flags=element)' GST_DEBUG=GST_TRACER:7 gst-launch-1.0 -q "$@" 2>&1 \
    | sed -n 's/.*element-latency, .*element=(string)\([^,]*\),.*time=(guint64)\([0-9][0-9]*\).*/\1 \2/p' \
    | sort -k1,1 -k2,2n \
    | awk '{ times[$1] = times[$1] " " $2; sum[$1] += $2; n[$1]++ }
        END { for (e in n) { split(substr(times[e], 2), t, " ");
              printf "%-14s %5d frames, median %8.2f ms, mean %8.2f ms, max %8.2f ms\n", e, n[e],
                  t[int((n[e] + 1) / 2)] / 1e6, sum[e] / n[e] / 1e6, t[n[e]] / 1e6 } }' \
    | sort

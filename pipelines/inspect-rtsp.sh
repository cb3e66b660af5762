#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# inspect-rtsp.sh: inspect an IP camera that may drop and come back. gst-plugins-rs' fallbacksrc (shipped in
# the nfbmr plugin) reconnects by itself; the element reports each outage (an `nfbmr-outage` bus message, a
# warning, and a JSON line with "outage": "start" and "end") and scores again as soon as frames return.
# Optionally re-serves the annotated stream over RTSP for an operator's player. Runs until Ctrl-C.
#
# Arguments:
#   URI       the camera: rtsp://… (or anything uridecodebin plays)
#   MODEL     the .nfbmr model
#
# Variables (environment):
#   SERVE_PORT        re-serve the annotated stream at rtsp://HOST:SERVE_PORT/nfbmr (off when empty)
#   SERVE_UDP_PORT    loopback UDP port carrying it to the RTSP server   (default: SERVE_PORT + 1)
#   SINK              where the annotated picture goes                  (default: autovideosink)
#   RESULTS           the JSON-lines file                               (default: results.jsonl here)
#   DEVICE            auto, cpu, cuda or cuda:N                         (default: auto)
#   NFBMR_OPTIONS     further properties of the element, e.g. "inference-interval=2 event-window=8"
#   SOURCE_OPTIONS    further properties of fallbacksrc, e.g. "timeout=2000000000" (stall before an outage, ns)
#
# Usage: pipelines/inspect-rtsp.sh URI MODEL [--help]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/pipeline-env.sh"
help_or_usage 2 "$@"
uri="$1" model="$2"
SINK="${SINK:-autovideosink}"
RESULTS="${RESULTS:-results.jsonl}"
SERVE_PORT="${SERVE_PORT:-}"

[ -f "$model" ] || { echo "inspect-rtsp.sh: model $model does not exist" >&2; exit 1; }

# Video only, no stand-in picture during an outage (nothing but the camera's frames is scored), retrying
# for as long as the station runs, and the camera's end of stream taken as a drop: rtspsrc ends the stream
# when a camera says goodbye (RTCP BYE) or when its connection closes and cannot be opened again at once.
source_fragment="fallbacksrc uri=$uri enable-audio=false enable-dummy=false restart-on-eos=true \
    retry-timeout=18446744073709551614"
served=""
if [ -n "$SERVE_PORT" ]; then
    udp_port="${SERVE_UDP_PORT:-$((SERVE_PORT + 1))}"
    rtp_caps="application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96"
    # Depayloaded and payloaded again: the server gives each client its own RTP session.
    nfbmr-rtsp-serve --port "$SERVE_PORT" \
        "( udpsrc port=$udp_port caps=\"$rtp_caps\" ! rtph264depay ! rtph264pay name=pay0 pt=96 config-interval=1 )" &
    server=$!
    trap 'kill $server 2>/dev/null' EXIT
    served="annotated. ! queue leaky=downstream max-size-buffers=30 ! videoconvert \
        ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=30 ! rtph264pay config-interval=1 pt=96 \
        ! udpsink host=127.0.0.1 port=$udp_port sync=false"
fi

# No -e: EOS cannot cross a source that is waiting for its camera; nothing here needs finalising, and the
# results file is flushed as the pipeline stops.
# shellcheck disable=SC2086
gst-launch-1.0 $source_fragment ${SOURCE_OPTIONS:-} ! videoconvert \
    ! nfbmr model="$model" "${NFBMR_DEVICE[@]}" overlay=true results-location="$RESULTS" ${NFBMR_OPTIONS:-} \
    ! tee name=annotated annotated. ! queue ! videoconvert ! $SINK $served

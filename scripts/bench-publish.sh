#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Publishing to MQTT, in one run: FRAMES test frames (FRAME_SIZE, as fast as the model scores them on the
# CPU) inspected alone, then published with nfbmrpublish at QoS 0 and at QoS 1 to a Mosquitto broker of its
# own on loopback, with a subscriber counting what arrives, three rounds. Prints frames per CPU-second of
# each run (the CPU cost of publishing) and the messages per second that arrived.
# Usage: scripts/bench-publish.sh MODEL   (FRAMES default 600, FRAME_SIZE default 320x240)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pipeline-env.sh"
help_or_usage 1 "$@"
model="$(realpath "$1")"
frames="${FRAMES:-600}" size="${FRAME_SIZE:-320x240}"
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$port" > "$work/mosquitto.conf"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" >/dev/null 2>&1 &   # Debian's place, often off PATH
broker=$!
trap 'kill $broker 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5

source_fragment="videotestsrc num-buffers=$frames pattern=ball ! video/x-raw,format=RGB,width=${size%x*},height=${size#*x}"
run() { # label, publisher fragment (or nothing) -> "cpu wall" seconds
    /usr/bin/time -f "%U %S %e" -o "$work/time.txt" gst-launch-1.0 -q $source_fragment \
        ! nfbmr model="$model" device=cpu ! $2 fakesink sync=false >/dev/null 2>&1
    awk '{ printf "%.2f %.2f", $1 + $2, $3 }' "$work/time.txt"
}
report() { # label, cpu wall, messages
    read -r cpu wall <<< "$2"
    printf '%-22s %6.1f frames per CPU-second  %6.1f s' "$1" "$(echo "$frames / $cpu" | bc -l)" "$wall"
    [ -n "${3:-}" ] && printf '  %d messages, %.0f per second' "$3" "$(echo "$3 / $wall" | bc -l)"
    echo
}

# One libtorch thread: on two cores its OpenMP pool makes runs of a small model vary by up to eight times
# (docs/reliability.md), which would drown what publishing costs. Three rounds, interleaved.
export OMP_NUM_THREADS=1
for round in 1 2 3; do
    report "inspect alone" "$(run alone "")"
    for qos in 0 1; do
        timeout 600 mosquitto_sub -p "$port" -q "$qos" -t "nfbmr/bench/frames" -C "$frames" > "$work/sub.txt" &
        subscriber=$!
        sleep 0.3
        times=$(run "qos $qos" "nfbmrpublish broker=mqtt://127.0.0.1:$port station-id=bench qos=$qos !")
        wait $subscriber || true
        report "publish, QoS $qos" "$times" "$(wc -l < "$work/sub.txt")"
    done
done

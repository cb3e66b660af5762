#!/usr/bin/python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Reading nfbmr's verdicts from Python (PyGObject: Debian packages python3-gi, gir1.2-gstreamer-1.0).

A pad probe after the element reads the NfbmrMeta custom meta of every buffer and prints one JSON object
per frame. (Defect boxes travel as standard GstVideoRegionOfInterestMeta of type "nfbmr-defect", and in the
"regions" field of the element's "nfbmr" bus messages.) The plugin must be installed (meson install) or on
GST_PLUGIN_PATH (target/release of a cargo build).

Usage: examples/python/read_meta.py MODEL.nfbmr [FRAMES]
"""
import json
import struct
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def on_buffer(_pad, info):
    buffer = info.get_buffer()
    meta = buffer.get_custom_meta("NfbmrMeta")
    if meta is None:
        return Gst.PadProbeReturn.OK
    fields = meta.get_structure()
    width, height = fields.get_value("map-width"), fields.get_value("map-height")
    raw = fields.get_value("map").get_data()
    anomaly_map = struct.unpack(f"<{width * height}f", raw)  # 1.0 = threshold
    print(json.dumps({
        "pts": buffer.pts,
        "score": fields.get_value("score"),
        "raw-score": fields.get_value("raw-score"),
        "threshold": fields.get_value("threshold"),
        "is-anomaly": fields.get_value("is-anomaly"),
        "inferred": fields.get_value("inferred"),
        "model-id": fields.get_value("model-id"),
        "map-peak": max(anomaly_map),
    }), flush=True)
    return Gst.PadProbeReturn.OK


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    model = sys.argv[1]
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"videotestsrc num-buffers={frames} ! video/x-raw,width=320,height=240 ! videoconvert ! "
        f"nfbmr name=detector model={model} ! fakesink")
    pipeline.get_by_name("detector").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_buffer)
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if message.type == Gst.MessageType.ERROR:
        error, debug = message.parse_error()
        sys.exit(f"error: {error.message} ({debug})")


if __name__ == "__main__":
    main()

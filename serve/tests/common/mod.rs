// SPDX-License-Identifier: MIT OR Apache-2.0
//! nfbmr-rtsp-serve on loopback and an RTSP client of it, for its own tests and the plugin's (which include
//! this file).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use gst::prelude::*;

/// A camera: a live test pattern in H.264, `width`×`height` at 15 frames/s, which ends its stream after
/// `frames` when given.
pub fn camera_launch(pattern: &str, width: u32, height: u32, frames: Option<u32>) -> String {
    let frames = frames.map_or(-1, i64::from);
    format!(
        "( videotestsrc is-live=true num-buffers={frames} pattern={pattern} \
         ! video/x-raw,width={width},height={height},framerate=15/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 )"
    )
}

/// `binary` serving `launch` on 127.0.0.1:`port` (0: any), and the address it printed once ready.
pub fn serve(binary: &Path, port: u16, launch: &str) -> (Child, String) {
    let mut server = Command::new(binary)
        .args([
            "--address",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            launch,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("serving ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (server, address)
}

/// The first `count` frames an RTSP client decodes from `address`, as RGB with their video info.
pub fn client_frames(address: &str, count: usize) -> Vec<(gst_video::VideoInfo, Vec<u8>)> {
    let pipeline = gst::parse::launch(&format!(
        "rtspsrc location={address} latency=100 ! rtph264depay ! avdec_h264 ! videoconvert \
         ! video/x-raw,format=RGB ! appsink name=frames"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frames = pipeline
        .by_name("frames")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let decoded = (0..count)
        .map(|_| {
            let sample = frames
                .try_pull_sample(gst::ClockTime::from_seconds(30))
                .unwrap_or_else(|| panic!("a frame from {address}"));
            let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
            let pixels = sample.buffer().unwrap().map_readable().unwrap().to_vec();
            (info, pixels)
        })
        .collect();
    pipeline.set_state(gst::State::Null).unwrap();
    decoded
}

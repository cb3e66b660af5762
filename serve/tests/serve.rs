// SPDX-License-Identifier: MIT OR Apache-2.0
//! nfbmr-rtsp-serve as a station runs it: an RTSP client on loopback decodes what it serves, and a port
//! already taken is a clear error.

mod common;

use std::path::Path;
use std::process::Command;

const SERVER: &str = env!("CARGO_BIN_EXE_nfbmr-rtsp-serve");

#[test]
fn an_rtsp_client_decodes_the_served_stream() {
    gst::init().unwrap();
    let camera = common::camera_launch("smpte", 96, 64, None);
    let (mut server, address) = common::serve(Path::new(SERVER), 0, &camera);
    assert!(address.starts_with("rtsp://127.0.0.1:") && address.ends_with("/nfbmr"));
    for (info, _) in common::client_frames(&address, 5) {
        assert_eq!((info.width(), info.height()), (96, 64));
    }

    // A second server cannot take the same port, and says so.
    let port = address
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let taken = Command::new(SERVER)
        .args(["--address", "127.0.0.1", "--port", port, &camera])
        .output()
        .unwrap();
    assert!(!taken.status.success());
    let stderr = String::from_utf8_lossy(&taken.stderr);
    assert!(stderr.contains("cannot listen on 127.0.0.1"), "{stderr}");
    server.kill().unwrap();
    server.wait().unwrap();
}

// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr-rtsp-serve`: serves a gst-launch description over RTSP with gst-rtsp-server, for an operator's
//! RTSP player at a desk (`inspect-rtsp.sh` re-serves the annotated stream with it) or as an RTSP camera on
//! loopback. One media is shared by every client. It runs until stopped: it has nothing to finalise, so
//! SIGINT and SIGTERM end it at once.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use gst::glib;
use gst_rtsp_server::prelude::*;

/// Serves a gst-launch description over RTSP at rtsp://ADDRESS:PORT/MOUNT until stopped.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    address: String,
    /// Port to listen on (0: any free port; the address printed on stdout tells which).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Path of the stream.
    #[arg(long, default_value = "/nfbmr")]
    mount: String,
    /// The media, in gst-launch syntax within parentheses; its payloaders are named pay0, pay1…, e.g.
    /// "( udpsrc port=5400 caps=application/x-rtp,media=video,encoding-name=H264,clock-rate=90000 name=pay0 )"
    launch: String,
}

fn serve(args: &Args) -> Result<()> {
    gst::init()?;
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address(&args.address);
    server.set_service(&args.port.to_string());
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&args.launch);
    factory.set_shared(true);
    server
        .mount_points()
        .context("the server has no mount points")?
        .add_factory(&args.mount, factory);
    let main_loop = glib::MainLoop::new(None, false);
    let _source = server
        .attach(None)
        .with_context(|| format!("cannot listen on {}:{}", args.address, args.port))?;
    // Tests and scripts wait for this line: the server accepts clients from now on.
    println!(
        "serving rtsp://{}:{}{}",
        args.address,
        server.bound_port(),
        args.mount
    );
    main_loop.run();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nfbmr-rtsp-serve: {err:#}");
            ExitCode::FAILURE
        }
    }
}

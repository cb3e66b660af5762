// SPDX-License-Identifier: MIT OR Apache-2.0
//! Many live cameras on one engine: N streams of `videotestsrc is-live=true` at 30 frames/s, each through its
//! own `nfbmr` element (all loading one model file, so sharing one engine), for a few seconds per setting.
//! Prints, per setting, what each stream lost and how late its frames were: a frame's latency is the
//! pipeline's running time when it reaches its sink minus its capture time (its PTS).
//!
//! cargo run --release -p gst-plugin-nfbmr --example streams -- --model M.nfbmr --streams 1,4,16 \
//!     --max-batch 1,8 --size 640x480 --seconds 10 \
//!     [--warm-up 3 --device cuda --precision fp16 --frames-in-flight 2]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use gst::prelude::*;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    model: std::path::PathBuf,
    /// Stream counts to run, one setting each
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    streams: Vec<usize>,
    /// Engine batch limits to run each stream count with
    #[arg(long, value_delimiter = ',', default_value = "8")]
    max_batch: Vec<u32>,
    /// Microseconds the engine waits for a fuller batch
    #[arg(long, default_value_t = 0)]
    batch_timeout: u64,
    #[arg(long, default_value = "640x480")]
    size: String,
    /// Raw format the cameras deliver (RGB, NV12, I420, ...)
    #[arg(long, default_value = "RGB")]
    format: String,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Number format the model computes in (fp32, fp16, bf16)
    #[arg(long, default_value = "fp32")]
    precision: String,
    /// Replay the model's forward pass from CUDA graphs (CUDA only)
    #[arg(long)]
    cuda_graphs: bool,
    /// Frames each element hands to the engine before pushing the oldest on
    #[arg(long, default_value_t = 1)]
    frames_in_flight: u32,
    /// Measured seconds per setting
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of warm-up before the measured ones, whose frames are not counted
    #[arg(long, default_value_t = 1)]
    warm_up: u64,
    /// Latency above which a frame counts as late (a sink keeping this deadline drops it)
    #[arg(long, default_value_t = 100)]
    deadline_ms: u64,
}

/// What one stream's sink saw after the warm-up: the latency of each frame, in milliseconds.
type Latencies = Arc<Mutex<Vec<f64>>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    gst::init()?;
    gstnfbmr::plugin_register_static()?;
    println!(
        "{:>7} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>9}",
        "streams", "max-batch", "expected", "fewest", "late", "median", "p99", "max"
    );
    for &max_batch in &args.max_batch {
        for &streams in &args.streams {
            let latencies = run(&args, streams, max_batch)?;
            report(&args, streams, max_batch, &latencies);
        }
    }
    Ok(())
}

fn run(
    args: &Args,
    streams: usize,
    max_batch: u32,
) -> Result<Vec<Latencies>, Box<dyn std::error::Error>> {
    let (width, height) = args.size.split_once('x').ok_or("--size is WxH")?;
    let branch = |i: usize| {
        format!(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,format={},width={width},height={height},\
             framerate=30/1 ! nfbmr model={} device={} precision={} cuda-graphs={} frames-in-flight={} \
             max-batch={max_batch} batch-timeout={} post-messages=false ! fakesink name=sink{i} sync=false",
            args.format,
            args.model.display(),
            args.device,
            args.precision,
            args.cuda_graphs,
            args.frames_in_flight,
            args.batch_timeout
        )
    };
    let description = (0..streams).map(branch).collect::<Vec<_>>().join(" ");
    let pipeline = gst::parse::launch(&description)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let warm_up = gst::ClockTime::from_seconds(args.warm_up);
    let latencies: Vec<Latencies> = (0..streams)
        .map(|i| {
            let seen = Latencies::default();
            let sink = pipeline.by_name(&format!("sink{i}")).expect("named above");
            let recorded = Arc::clone(&seen);
            let clock_of = sink.clone();
            sink.static_pad("sink")
                .expect("fakesink has one")
                .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    let captured = info.buffer().and_then(|b| b.pts());
                    if let (Some(captured), Some(now)) = (captured, clock_of.current_running_time())
                        && captured >= warm_up
                    {
                        let late = now.saturating_sub(captured);
                        recorded.lock().unwrap().push(late.nseconds() as f64 / 1e6);
                    }
                    gst::PadProbeReturn::Ok
                });
            seen
        })
        .collect();
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let started = pipeline.set_state(gst::State::Playing);
    // A refused start waits no longer than the element takes to post why; a run, to its end.
    let deadline = match started {
        Ok(_) => warm_up + gst::ClockTime::from_seconds(args.seconds),
        Err(_) => gst::ClockTime::from_seconds(5),
    };
    let error = bus.timed_pop_filtered(deadline, &[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null)?;
    if let Some(message) = error
        && let gst::MessageView::Error(err) = message.view()
    {
        return Err(format!("{} ({:?})", err.error(), err.debug()).into());
    }
    started?;
    std::thread::sleep(Duration::from_millis(200));
    Ok(latencies)
}

fn report(args: &Args, streams: usize, max_batch: u32, latencies: &[Latencies]) {
    let expected = args.seconds * 30;
    let per_stream: Vec<Vec<f64>> = latencies
        .iter()
        .map(|l| l.lock().unwrap().clone())
        .collect();
    let fewest = per_stream.iter().map(Vec::len).min().unwrap_or(0);
    let mut all: Vec<f64> = per_stream.concat();
    all.sort_by(f64::total_cmp);
    let late = all
        .iter()
        .filter(|&&ms| ms > args.deadline_ms as f64)
        .count();
    // Milliseconds at quantile `q` of all frames; none when no frame came through.
    let at = |q: f64| {
        all.get(((all.len() as f64 - 1.0) * q) as usize)
            .map_or_else(|| "-".to_string(), |ms| format!("{ms:.1}ms"))
    };
    println!(
        "{streams:>7} {max_batch:>9} {expected:>9} {fewest:>10} {late:>10} {:>9} {:>9} {:>9}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

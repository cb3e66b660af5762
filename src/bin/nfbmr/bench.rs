// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr bench`: per-frame speed of the detector, its backbone and the overlay.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::json;

use nfbmr::device::device_name;
use nfbmr::heatmap::{Canvas, Colormap};
use nfbmr::{Detector, Frame, PixelLayout, StagedFrame};

use crate::{CodeArg, DeviceArg, PrecisionArg, load_detector};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_name = "MODEL.nfbmr")]
    model: PathBuf,
    /// Frames to time (after 5 warm-up frames)
    #[arg(long, default_value_t = 50)]
    frames: usize,
    /// Frame width in pixels
    #[arg(long, default_value_t = 256)]
    width: usize,
    /// Frame height in pixels
    #[arg(long, default_value_t = 256)]
    height: usize,
    /// Frames scored together, as the shared engine batches the frames of several cameras; times are
    /// per frame
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    precision: PrecisionArg,
    #[command(flatten)]
    code: CodeArg,
    /// Replay the detector's forward pass from CUDA graphs (one launch per batch; CUDA only)
    #[arg(long)]
    cuda_graphs: bool,
    /// Print the figures as JSON
    #[arg(long)]
    json: bool,
}

/// Median per-frame times in milliseconds.
struct Timings {
    /// Copying the frame into a reused host buffer (pinned on CUDA), part of both figures below.
    staging: f64,
    backbone: f64,
    full: f64,
    overlay: f64,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.frames == 0 || args.width == 0 || args.height == 0 || args.batch == 0 {
        bail!("--frames, --width, --height and --batch must be positive");
    }
    let mut detector = load_detector(&args.model, args.device, args.precision, args.code)?;
    if args.cuda_graphs {
        detector = detector.with_cuda_graphs()?;
    }
    // A textured frame rather than a flat one, so that nothing is unrealistically cheap.
    let pixels: Vec<u8> = (0..args.width * args.height * 3)
        .map(|i| ((i * 7919) % 251) as u8)
        .collect();
    let timings = measure(&detector, &pixels, &args)?;
    let device = device_name(detector.device());
    let threads = tch::get_num_threads();
    let image_size = detector.config().image_size;
    let ratio = timings.full / timings.backbone;
    if args.json {
        let figures = json!({
            "device": device,
            "threads": threads,
            "frame": [args.width, args.height],
            "image-size": image_size,
            "frames": args.frames,
            "batch": args.batch,
            "cuda-graphs": detector.uses_cuda_graphs(),
            "staging-ms": timings.staging,
            "backbone-ms": timings.backbone,
            "full-ms": timings.full,
            "full-over-backbone": ratio,
            "overlay-ms": timings.overlay,
        });
        println!("{figures}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "device {device} ({threads} threads), {}x{} frames at model size {image_size} in batches of {}, \
         median of {}{}",
        args.width,
        args.height,
        args.batch,
        args.frames,
        if detector.uses_cuda_graphs() {
            ", replayed from CUDA graphs"
        } else {
            ""
        }
    );
    let Timings {
        staging,
        backbone,
        full,
        overlay,
    } = timings;
    println!(
        "staging        {staging:8.2} ms/frame  (the frame copied to a reused host buffer; in the element \
         each stream's thread does this)"
    );
    println!(
        "backbone only  {backbone:8.2} ms/frame  (staging, preprocessing and feature extraction)"
    );
    println!(
        "full detector  {full:8.2} ms/frame  ({:.1} frames/s)",
        1e3 / full
    );
    println!(
        "full / backbone {ratio:7.3}  (flows, mappers and post-processing add {:.0}%)",
        (ratio - 1.0) * 100.0
    );
    println!(
        "heatmap overlay {overlay:7.2} ms/frame  (the element's overlay=true at this frame size, on the CPU)"
    );
    Ok(ExitCode::SUCCESS)
}

fn measure(detector: &Detector, pixels: &[u8], args: &Args) -> Result<Timings> {
    let device = detector.device();
    let frame = Frame::packed(pixels, args.width, args.height, PixelLayout::RGB);
    let synchronize = || {
        if let tch::Device::Cuda(index) = device {
            tch::Cuda::synchronize(index as i64);
        }
    };
    // Milliseconds per frame.
    let time = |work: &dyn Fn() -> Result<()>| -> Result<f64> {
        synchronize();
        let start = Instant::now();
        work()?;
        synchronize();
        Ok(start.elapsed().as_secs_f64() * 1e3 / args.batch as f64)
    };
    // Each frame staged as the element stages it: copied into a host buffer (pinned for CUDA) that the
    // stream reuses, then uploaded.
    let spares = RefCell::new(Vec::new());
    let staged_batch = || -> Result<Vec<StagedFrame>> {
        let mut spares = spares.borrow_mut();
        (0..args.batch)
            .map(|_| Ok(frame.stage(device, spares.pop())?))
            .collect()
    };
    let backbone_only = || -> Result<()> {
        let staged = staged_batch()?;
        let inputs: Vec<_> = staged
            .iter()
            .map(|frame| detector.preprocess(&frame.rgb(device)))
            .collect();
        detector.features(&tch::Tensor::cat(&inputs, 0))?;
        spares.borrow_mut().extend(staged);
        Ok(())
    };
    let staging_only = || -> Result<()> {
        let staged = staged_batch()?;
        spares.borrow_mut().extend(staged);
        Ok(())
    };
    let full = || -> Result<()> {
        let staged = staged_batch()?;
        detector.infer_batch(&staged.iter().collect::<Vec<_>>())?;
        spares.borrow_mut().extend(staged);
        Ok(())
    };
    for _ in 0..5 {
        time(&backbone_only)?;
        time(&full)?;
    }
    // Interleaved so that both see the same machine state.
    let (mut staging_ms, mut backbone_ms, mut full_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.frames {
        staging_ms.push(time(&staging_only)?);
        backbone_ms.push(time(&backbone_only)?);
        full_ms.push(time(&full)?);
    }
    // The element's `overlay=true` on a frame of this size: the map blended over the picture on the CPU.
    let map = detector.infer(&frame)?.map;
    let (lut, threshold) = (
        Colormap::default().lut(),
        detector.config().thresholds.pixel as f32,
    );
    let mut picture = pixels.to_vec();
    let overlay_ms = (0..args.frames)
        .map(|_| {
            let start = Instant::now();
            Canvas::packed(&mut picture, args.width, args.height, PixelLayout::RGB)
                .blend_map(&map, threshold, &lut, 0.5, false);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    Ok(Timings {
        staging: median(staging_ms),
        backbone: median(backbone_ms),
        full: median(full_ms),
        overlay: median(overlay_ms),
    })
}

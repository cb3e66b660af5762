// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr frames`: training frames from footage of good parts.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use nfbmr::data::video::{FramePicker, Pick, PnmFrames};

#[derive(clap::Args)]
pub struct Args {
    /// Binary PNM pictures one after another, as GStreamer's pnmenc writes them ("-": standard input), e.g.
    /// gst-launch-1.0 -q filesrc location=line.mp4 ! decodebin ! videoconvert ! video/x-raw,format=RGB
    /// ! pnmenc ! fdsink fd=1 | nfbmr frames --out frames/
    #[arg(default_value = "-", value_name = "FRAMES")]
    input: PathBuf,
    /// Folder the kept frames are written to, as frame-NNNNNN.png (NNNNNN: the frame's number in the video)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Keep every Nth frame
    #[arg(long, default_value_t = 1, value_name = "N")]
    every: u64,
    /// Skip a frame whose 32×32 grey thumbnail differs from a kept one's by less than this mean absolute
    /// difference (0–1; 0 keeps repeats)
    #[arg(long, default_value_t = 0.01, value_name = "FRACTION")]
    min_change: f64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.min_change) {
        bail!("--min-change must be within 0–1, got {}", args.min_change);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let reader: Box<dyn std::io::BufRead> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.input)
            .with_context(|| format!("opening {}", args.input.display()))?;
        Box::new(BufReader::new(file))
    };
    let mut picker = FramePicker::new(args.every, args.min_change);
    let (mut read, mut kept, mut repeats) = (0u64, 0u64, 0u64);
    for frame in PnmFrames::new(reader) {
        let frame = frame?;
        match picker.offer(read, &frame) {
            Pick::Kept => {
                let path = args.out.join(format!("frame-{read:06}.png"));
                frame
                    .save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                kept += 1;
            }
            Pick::NearDuplicate(_) => repeats += 1,
            Pick::Between => {}
        }
        read += 1;
    }
    if kept == 0 {
        bail!("no frames read: the input holds no picture");
    }
    eprintln!(
        "read {read} frames: kept {kept} in {} (1 in {}; {repeats} near-duplicates skipped)",
        args.out.display(),
        args.every
    );
    Ok(ExitCode::SUCCESS)
}

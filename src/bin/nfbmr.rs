// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` command line: train, score and inspect NF-BMR models.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use nfbmr::config::FlowConfig;
use nfbmr::data::{
    self,
    dagm::{self, SynthOptions},
};
use nfbmr::device::device_name;
use nfbmr::heatmap::{self, Colormap};
use nfbmr::model::backbone;
use nfbmr::report::{self, ClassResult};
use nfbmr::train::{self, BackboneChoice, Progress, TrainOptions};
use nfbmr::{
    Detector, DeviceSpec, Frame, PixelLayout, calibrate, evaluate, frame, modelfile, weights,
};

#[derive(Parser)]
#[command(
    name = "nfbmr",
    version,
    about = "Find visual defects with NF-BMR models trained on good parts only"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic DAGM-like dataset (textures with defects and masks, DAGM 2007 layout)
    Synth(SynthArgs),
    /// Train a model on good images
    Train(TrainArgs),
    /// Score images with a model: score, verdict and optional heatmaps
    Score(ScoreArgs),
    /// Set a model's thresholds from good images for a target false-alarm rate (rewrites the model file)
    Calibrate(CalibrateArgs),
    /// Measure a model on a labelled test set: image and pixel AUROC, PRO, best F1, error rates
    Eval(EvalArgs),
    /// Describe a model file
    Info(InfoArgs),
    /// Quality benchmark: synthesise the DAGM-like classes, train each with the defaults, evaluate with the
    /// ablation, print the table and write the report
    Benchmark(BenchmarkArgs),
    /// Measure per-frame speed: the whole detector against its backbone alone, interleaved in one run, and
    /// the heatmap overlay at the frame size
    Bench(BenchArgs),
}

/// Which classes of the synthetic dataset, and its seed.
#[derive(Args)]
struct SyntheticClasses {
    /// Classes of the synthetic dataset, e.g. 1-10 or 1,3
    #[arg(long, default_value = "1-10", value_name = "LIST")]
    classes: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct SynthArgs {
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    synthetic: SyntheticClasses,
    /// Image side in pixels
    #[arg(long, default_value_t = 256, value_name = "PX")]
    size: u32,
    /// Images per class in Train
    #[arg(long, default_value_t = 100)]
    train: usize,
    /// Images per class in Test
    #[arg(long, default_value_t = 50)]
    test: usize,
    /// Fraction of each split that is defective
    #[arg(long, default_value_t = 0.2)]
    defect_fraction: f64,
}

#[derive(Args)]
struct TrainArgs {
    /// Folder of good images (PNG, JPEG or BMP; colour or grey; any size). A `good/` subfolder is used when
    /// present, so a folder-layout dataset can be passed as is. With --class, a DAGM 2007 dataset root.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// MVTec AD category (e.g. tile) or DAGM class (e.g. Class1) under --data: train on its good training
    /// images
    #[arg(long, value_name = "NAME")]
    class: Option<String>,
    /// Where to write the model
    #[arg(long, value_name = "MODEL.nfbmr")]
    out: PathBuf,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Side of the square input the frames are resized to
    #[arg(long, default_value_t = 256, value_name = "PX")]
    image_size: i64,
    /// efficientnet-lite0, or torchscript:PATH for a TorchScript module returning a list of feature maps
    #[arg(long, default_value = backbone::EFFICIENTNET_LITE0, value_name = "NAME")]
    backbone: String,
    /// Backbone outputs used as feature scales: EfficientNet-Lite0 block indices (default 2,4,7,10), or
    /// indices into a TorchScript backbone's returned list (default: all)
    #[arg(long, value_delimiter = ',', value_name = "N,N,N")]
    blocks: Option<Vec<usize>>,
    /// Epochs of both stages (overridden by --flow-epochs and --mapper-epochs)
    #[arg(long)]
    epochs: Option<usize>,
    /// Epochs of stage 1 (flows)
    #[arg(long)]
    flow_epochs: Option<usize>,
    /// Epochs of stage 2 (BMR mappers)
    #[arg(long)]
    mapper_epochs: Option<usize>,
    /// Coupling steps per flow
    #[arg(long, default_value_t = FlowConfig::default().steps)]
    flow_steps: usize,
    /// Hidden width of the flows' coupling subnets, relative to the feature width
    #[arg(long, default_value_t = FlowConfig::default().hidden_ratio)]
    flow_hidden_ratio: f64,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Gaussian blur of the anomaly map in pixels of the model input (0 = none)
    #[arg(long, default_value_t = 4.0)]
    blur_sigma: f64,
    /// Fraction of the good images held out to set the threshold
    #[arg(long, default_value_t = 0.1)]
    hold_out: f64,
    /// Target false-alarm rate of that threshold
    #[arg(long, default_value_t = 0.01)]
    false_alarm_rate: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct ScoreArgs {
    #[arg(long, value_name = "MODEL.nfbmr")]
    model: PathBuf,
    /// Images to score
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    /// Write a heatmap overlay PNG per image into this folder
    #[arg(long, value_name = "DIR")]
    heatmap: Option<PathBuf>,
    /// One JSON object per image on stdout instead of text
    #[arg(long)]
    json: bool,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// turbo, jet, inferno or gray
    #[arg(long, default_value = "turbo")]
    colormap: Colormap,
    /// Heatmap opacity, 0 to 1
    #[arg(long, default_value_t = 0.5)]
    alpha: f32,
}

#[derive(Args)]
struct CalibrateArgs {
    #[arg(long, value_name = "MODEL.nfbmr")]
    model: PathBuf,
    /// Good images: a folder (its good/ subfolder when present), or a dataset root with --class
    #[arg(long, value_name = "GOOD_DIR")]
    data: PathBuf,
    /// MVTec AD category or DAGM class under --data (its good training images)
    #[arg(long, value_name = "NAME")]
    class: Option<String>,
    /// Target fraction of good images flagged
    #[arg(long, default_value_t = 0.01)]
    false_alarm_rate: f64,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
}

#[derive(Args)]
struct EvalArgs {
    /// A model file, or a folder of models named after the classes (Class1.nfbmr, tile.nfbmr, …)
    #[arg(long, value_name = "MODEL.nfbmr|DIR")]
    model: PathBuf,
    /// Dataset root: MVTec AD or DAGM 2007 (with --class), or the folder layout good/, defect/, masks/
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// MVTec AD categories or DAGM classes under --data, comma-separated, or `all`
    #[arg(long, value_name = "NAME,…|all")]
    class: Option<String>,
    /// Also write the figures as JSON to this file
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write report.md with ROC curves, score histograms and heatmap galleries into this folder
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Also score each model with one mapping direction alone and with the flow's likelihood alone
    #[arg(long)]
    ablation: bool,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
}

#[derive(Args)]
struct BenchmarkArgs {
    /// Working folder: data/, models/ and report/ are written here
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    synthetic: SyntheticClasses,
    /// Images per class in Train (a fifth of them defective, which training skips)
    #[arg(long, default_value_t = 120)]
    train: usize,
    /// Images per class in Test (a fifth of them defective)
    #[arg(long, default_value_t = 80)]
    test: usize,
    /// Epochs of both training stages (default: the training default); for quick trial runs
    #[arg(long)]
    epochs: Option<usize>,
    /// Train every class this many times, with training seeds 0, 1, …: the tables and the report are seed
    /// 0's, followed by each seed's mean image AUROC per scoring mode (what one training's luck moves)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    training_seeds: u64,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
}

#[derive(Args)]
struct InfoArgs {
    #[arg(value_name = "MODEL.nfbmr")]
    model: PathBuf,
    /// Print the configuration as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchArgs {
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
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Print the figures as JSON
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(args) => run_synth(args),
        Command::Train(args) => run_train(args),
        Command::Score(args) => run_score(args),
        Command::Calibrate(args) => run_calibrate(args),
        Command::Eval(args) => run_eval(args),
        Command::Info(args) => run_info(args),
        Command::Benchmark(args) => run_benchmark(args),
        Command::Bench(args) => run_bench(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn backbone_choice(args: &TrainArgs) -> Result<BackboneChoice> {
    if let Some(path) = args.backbone.strip_prefix("torchscript:") {
        return Ok(BackboneChoice::TorchScript {
            path: path.into(),
            taps: args.blocks.clone(),
        });
    }
    if args.backbone != backbone::EFFICIENTNET_LITE0 {
        bail!(
            "unknown backbone '{}': use {} or torchscript:PATH",
            args.backbone,
            backbone::EFFICIENTNET_LITE0
        );
    }
    lite0(args.blocks.clone())
}

/// EfficientNet-Lite0 from the weights cache, tapped at `taps` or the default blocks.
fn lite0(taps: Option<Vec<usize>>) -> Result<BackboneChoice> {
    Ok(BackboneChoice::EfficientNetLite0 {
        weights: weights::backbone_weights(backbone::EFFICIENTNET_LITE0)?,
        taps: taps.unwrap_or_else(|| backbone::DEFAULT_LITE0_TAPS.to_vec()),
    })
}

/// Parses `1-3,5` into [1, 2, 3, 5].
fn parse_classes(list: &str) -> Result<Vec<usize>> {
    let mut classes = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (first, last): (usize, usize) = (
            first
                .trim()
                .parse()
                .with_context(|| format!("bad class list '{list}'"))?,
            last.trim()
                .parse()
                .with_context(|| format!("bad class list '{list}'"))?,
        );
        if first == 0 || first > last {
            bail!("bad class range '{part}' in '{list}'");
        }
        classes.extend(first..=last);
    }
    Ok(classes)
}

fn run_synth(args: SynthArgs) -> Result<ExitCode> {
    let classes = parse_classes(&args.synthetic.classes)?;
    let options = SynthOptions {
        seed: args.synthetic.seed,
        size: args.size,
        train: args.train,
        test: args.test,
        defect_fraction: args.defect_fraction,
    };
    let bar = ProgressBar::new(classes.len() as u64).with_style(
        ProgressStyle::with_template("{msg:20} [{bar:30}] {pos}/{len} ETA {eta_precise}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("synthesising");
    for class in classes {
        dagm::write_synthetic_class(&args.out, class, &options)?;
        bar.inc(1);
    }
    bar.finish();
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn run_train(args: TrainArgs) -> Result<ExitCode> {
    args.device.resolve()?; // a missing device fails before any data is read
    let (images, source) = data::training_set(&args.data, args.class.as_deref())?;
    let mut options = TrainOptions::new(backbone_choice(&args)?);
    options.image_size = args.image_size;
    options.flow.steps = args.flow_steps;
    options.flow.hidden_ratio = args.flow_hidden_ratio;
    options.flow_epochs = args
        .flow_epochs
        .or(args.epochs)
        .unwrap_or(options.flow_epochs);
    options.mapper_epochs = args
        .mapper_epochs
        .or(args.epochs)
        .unwrap_or(options.mapper_epochs);
    options.batch_size = args.batch_size;
    options.blur_sigma = args.blur_sigma;
    options.hold_out = args.hold_out;
    options.false_alarm_rate = args.false_alarm_rate;
    options.seed = args.seed;
    options.device = args.device;
    let model = train_with_progress(&images, &source, &options)?;
    model
        .save(&args.out)
        .with_context(|| format!("saving {}", args.out.display()))?;
    let t = &model.config.thresholds;
    eprintln!(
        "wrote {} in {:.0} s; threshold {:.4} ({})",
        args.out.display(),
        model.config.training.seconds,
        t.image,
        t.method
    );
    Ok(ExitCode::SUCCESS)
}

/// Trains with progress bars on stderr.
fn train_with_progress(
    images: &[PathBuf],
    source: &str,
    options: &TrainOptions,
) -> Result<train::TrainedModel> {
    eprintln!(
        "training on {} good images from {source} on {}",
        images.len(),
        device_name(options.device.resolve()?)
    );
    let style = ProgressStyle::with_template(
        "{msg:20} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta_precise} {prefix}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let mut bar: Option<ProgressBar> = None;
    let mut report = |event: Progress| match event {
        Progress::Begin(stage, steps) => {
            if let Some(done) = bar.take() {
                done.finish();
            }
            let next = ProgressBar::new(steps).with_style(style.clone());
            next.set_message(stage.label());
            next.enable_steady_tick(Duration::from_millis(500));
            bar = Some(next);
        }
        Progress::Step(loss) => {
            if let Some(bar) = &bar {
                if let Some(loss) = loss {
                    bar.set_prefix(format!("loss {loss:.4}"));
                }
                bar.inc(1);
            }
        }
    };
    let mut model = train::train(images, options, &mut report)?;
    if let Some(done) = bar.take() {
        done.finish();
    }
    model.config.training.source = source.to_owned();
    Ok(model)
}

fn run_score(args: ScoreArgs) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.alpha) {
        bail!("--alpha must be between 0 and 1, got {}", args.alpha);
    }
    let detector = Detector::load(&args.model, args.device)?;
    if let Some(dir) = &args.heatmap {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating heatmap folder {}", dir.display()))?;
    }
    let lut = args.colormap.lut();
    let mut failures = 0;
    // A bad image is reported and skipped; the others are still scored.
    for path in &args.images {
        match score_one(&detector, path, &args, &lut) {
            Ok(line) => println!("{line}"),
            Err(err) => {
                failures += 1;
                eprintln!("error: {err:#}");
            }
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn score_one(
    detector: &Detector,
    path: &Path,
    args: &ScoreArgs,
    lut: &[[u8; 3]],
) -> Result<String> {
    let image = frame::load_rgb(path)?;
    let detection = detector.infer(&frame::rgb_frame(&image))?;
    let verdict = if detection.is_anomaly {
        "DEFECT"
    } else {
        "good"
    };
    let heatmap = match &args.heatmap {
        Some(dir) => {
            let mut overlay = image.clone();
            let threshold = detector.config().thresholds.pixel as f32;
            let (width, height) = (overlay.width() as usize, overlay.height() as usize);
            heatmap::Canvas {
                data: &mut overlay,
                width,
                height,
                stride: width * 3,
                layout: PixelLayout::RGB,
            }
            .blend_map(&detection.map, threshold, lut, args.alpha, false);
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let out = dir.join(format!("{stem}.heatmap.png"));
            overlay
                .save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            Some(out)
        }
        None => None,
    };
    Ok(if args.json {
        json!({
            "image": path,
            "score": detection.score,
            "raw-score": detection.raw_score,
            "threshold": detector.config().thresholds.image,
            "is-anomaly": detection.is_anomaly,
            "model-id": detector.model_id(),
            "heatmap": heatmap,
        })
        .to_string()
    } else {
        format!(
            "{}\tscore {:.3}\traw {:.4}\t{verdict}",
            path.display(),
            detection.score,
            detection.raw_score
        )
    })
}

fn run_calibrate(args: CalibrateArgs) -> Result<ExitCode> {
    let detector = Detector::load(&args.model, args.device)?;
    let (images, source) = data::training_set(&args.data, args.class.as_deref())?;
    let bar = ProgressBar::new(images.len() as u64);
    let scores = images
        .iter()
        .map(|path| {
            let image = frame::load_rgb(path)?;
            bar.inc(1);
            Ok(detector.infer(&frame::rgb_frame(&image))?.raw_score)
        })
        .collect::<nfbmr::Result<Vec<f64>>>()?;
    bar.finish_and_clear();
    let thresholds = calibrate::thresholds_for(&scores, args.false_alarm_rate)?;
    let flagged = scores.iter().filter(|&&s| s >= thresholds.image).count();
    let largest = scores.iter().copied().fold(f64::MIN, f64::max);
    drop(detector);

    let mut file = modelfile::read(&args.model)?;
    file.config.thresholds = thresholds.clone();
    let mut tensors: Vec<(String, tch::Tensor)> = file.tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    modelfile::write(&args.model, &file.config, &tensors)?;
    println!(
        "threshold {:.4} for an expected false-alarm rate of {} ({})",
        thresholds.image, args.false_alarm_rate, thresholds.method
    );
    println!(
        "on the {} calibration images from {source}: {flagged} flagged ({:.2}%), largest score {largest:.4}",
        scores.len(),
        100.0 * flagged as f64 / scores.len() as f64
    );
    Ok(ExitCode::SUCCESS)
}

fn run_eval(args: EvalArgs) -> Result<ExitCode> {
    let classes: Vec<Option<String>> = match args.class.as_deref() {
        None => vec![None],
        Some("all") => data::classes(&args.data)?.into_iter().map(Some).collect(),
        Some(list) => list.split(',').map(|c| Some(c.trim().to_owned())).collect(),
    };
    let mut results = Vec::new();
    for class in classes {
        let model = if args.model.is_dir() {
            let name = class
                .as_deref()
                .context("--model names a folder of models: give --class")?;
            args.model.join(format!("{name}.nfbmr"))
        } else {
            args.model.clone()
        };
        results.push(evaluate_class(
            &model,
            &args.data,
            class.as_deref(),
            args.device,
            args.ablation,
            None,
        )?);
    }
    publish(
        &results,
        "nfbmr evaluation report",
        args.json.as_deref(),
        args.report.as_deref(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Evaluates one model on one class (or the folder layout).
fn evaluate_class(
    model: &Path,
    root: &Path,
    class: Option<&str>,
    device: DeviceSpec,
    ablation: bool,
    training_seconds: Option<f64>,
) -> Result<ClassResult> {
    let detector = Detector::load(model, device)?;
    let images = data::test_set(root, class)?;
    let name = class.unwrap_or("all").to_owned();
    let bar = ProgressBar::new(images.len() as u64).with_style(
        ProgressStyle::with_template("{msg:20} [{bar:30}] {pos}/{len} ETA {eta_precise}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("scoring {name}"));
    let (evaluation, scored) =
        evaluate::evaluate(&detector, &images, ablation, &mut || bar.inc(1))?;
    bar.finish_and_clear();
    Ok(ClassResult {
        name,
        model: model.to_owned(),
        model_id: detector.model_id().to_owned(),
        evaluation,
        scored,
        training_seconds,
    })
}

/// Prints the tables and writes the JSON and the report, where asked for.
fn publish(
    results: &[ClassResult],
    title: &str,
    json: Option<&Path>,
    report_dir: Option<&Path>,
) -> Result<()> {
    println!("{}", report::quality_table(results));
    let ablation = report::ablation_table(results);
    if !ablation.is_empty() {
        println!("image AUROC / pixel AUROC by scoring mode:\n\n{ablation}");
    }
    if let Some(dir) = report_dir {
        let path = report::write(dir, title, results)?;
        eprintln!("report: {}", path.display());
    }
    if let Some(path) = json {
        let classes = results
            .iter()
            .map(|r| {
                let mut value = serde_json::to_value(&r.evaluation)?;
                value["class"] = json!(r.name);
                value["model"] = json!(r.model);
                value["model-id"] = json!(r.model_id);
                value["training-seconds"] = json!(r.training_seconds);
                Ok(value)
            })
            .collect::<Result<Vec<_>>>()?;
        let value = json!({ "classes": classes, "mean": report::Means::of(results) });
        std::fs::write(path, serde_json::to_string_pretty(&value)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn run_benchmark(args: BenchmarkArgs) -> Result<ExitCode> {
    let classes = parse_classes(&args.synthetic.classes)?;
    let data_dir = args.out.join("data");
    let models = args.out.join("models");
    let synth = SynthOptions {
        seed: args.synthetic.seed,
        size: 256,
        train: args.train,
        test: args.test,
        defect_fraction: 0.2,
    };
    let mut options = TrainOptions::new(lite0(None)?);
    options.device = args.device;
    if let Some(epochs) = args.epochs {
        options.flow_epochs = epochs;
        options.mapper_epochs = epochs;
    }
    let mut runs: Vec<(u64, Vec<ClassResult>)> = (0..args.training_seeds)
        .map(|seed| (seed, Vec::new()))
        .collect();
    for number in classes {
        dagm::write_synthetic_class(&data_dir, number, &synth)?;
        let class = format!("Class{number}");
        let (images, source) = data::training_set(&data_dir, Some(&class))?;
        for (seed, results) in &mut runs {
            options.seed = *seed;
            let folder = match seed {
                0 => models.clone(),
                _ => models.join(format!("seed-{seed}")),
            };
            std::fs::create_dir_all(&folder)
                .with_context(|| format!("creating {}", folder.display()))?;
            let model = train_with_progress(&images, &source, &options)?;
            let path = folder.join(format!("{class}.nfbmr"));
            model
                .save(&path)
                .with_context(|| format!("saving {}", path.display()))?;
            let seconds = model.config.training.seconds;
            results.push(evaluate_class(
                &path,
                &data_dir,
                Some(&class),
                args.device,
                true,
                Some(seconds),
            )?);
        }
    }
    let report_dir = args.out.join("report");
    publish(
        &runs[0].1,
        "nfbmr quality benchmark",
        Some(&report_dir.join("results.json")),
        Some(&report_dir),
    )?;
    if runs.len() > 1 {
        let table = report::seed_table(&runs);
        println!("mean image AUROC by training seed:\n\n{table}");
        let markdown = report_dir.join("report.md");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&markdown)
            .and_then(|mut file| {
                writeln!(
                    file,
                    "\n## Training seeds\n\nMean image AUROC over the classes by scoring mode, each \
                     class trained once per seed; the tables above are seed 0's.\n\n{table}"
                )
            })
            .with_context(|| format!("writing {}", markdown.display()))?;
        let by_seed: Vec<_> = runs
            .iter()
            .map(|(seed, results)| json!({ "seed": seed, "mean": report::Means::of(results) }))
            .collect();
        let path = report_dir.join("training-seeds.json");
        std::fs::write(&path, serde_json::to_string_pretty(&by_seed)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_info(args: InfoArgs) -> Result<ExitCode> {
    let file = modelfile::read(&args.model)?;
    let size = std::fs::metadata(&args.model)?.len();
    let parameters: i64 = file.tensors.values().map(|t| t.numel() as i64).sum();
    if args.json {
        let mut value = serde_json::to_value(&file.config)?;
        value["model_id"] = json!(file.id);
        value["file_bytes"] = json!(size);
        value["tensors"] = json!(file.tensors.len());
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let c = &file.config;
    println!("model        {} ({})", args.model.display(), file.id);
    println!(
        "format       version {} written by nfbmr {}",
        c.format_version, c.crate_version
    );
    println!(
        "size         {:.1} MB, {} tensors, {parameters} values",
        size as f64 / 1e6,
        file.tensors.len()
    );
    println!(
        "backbone     {} at {}x{} px",
        c.backbone.id, c.image_size, c.image_size
    );
    for (k, s) in c.scales.iter().enumerate() {
        println!(
            "scale {k}      block {:2}: {} x {}x{}, mapper width {}, residual units {:.4} / {:.4}",
            s.block,
            s.channels,
            s.height,
            s.width,
            s.mapper_latent,
            s.forward_residual_unit,
            s.backward_residual_unit
        );
    }
    println!(
        "flow         {} steps, hidden ratio {}, clamp {}",
        c.flow.steps, c.flow.hidden_ratio, c.flow.clamp
    );
    println!(
        "fusion       (forward + {:.3} x backward) / {:.3}",
        c.backward_weight,
        1.0 + c.backward_weight
    );
    println!("blur         sigma {} px", c.blur_sigma);
    println!(
        "threshold    image {:.4}, pixel {:.4} ({})",
        c.thresholds.image, c.thresholds.pixel, c.thresholds.method
    );
    let t = &c.training;
    println!(
        "training     {} images (+{} held out) from {}, seed {}, {}+{} epochs, {:.0} s on {}",
        t.images, t.held_out, t.source, t.seed, t.flow_epochs, t.mapper_epochs, t.seconds, t.device
    );
    Ok(ExitCode::SUCCESS)
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn run_bench(args: BenchArgs) -> Result<ExitCode> {
    if args.frames == 0 || args.width == 0 || args.height == 0 {
        bail!("--frames, --width and --height must be positive");
    }
    let detector = Detector::load(&args.model, args.device)?;
    let device = detector.device();
    // A textured frame rather than a flat one, so that nothing is unrealistically cheap.
    let pixels: Vec<u8> = (0..args.width * args.height * 3)
        .map(|i| ((i * 7919) % 251) as u8)
        .collect();
    let frame = Frame::packed(&pixels, args.width, args.height, PixelLayout::RGB);
    let synchronize = || {
        if let tch::Device::Cuda(index) = device {
            tch::Cuda::synchronize(index as i64);
        }
    };
    let time = |work: &dyn Fn() -> Result<()>| -> Result<f64> {
        synchronize();
        let start = Instant::now();
        work()?;
        synchronize();
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };
    let backbone_only = || -> Result<()> {
        let input = detector.preprocess(&frame.to_tensor(device)?);
        detector.features(&input)?;
        Ok(())
    };
    let full = || -> Result<()> {
        detector.infer(&frame)?;
        Ok(())
    };
    for _ in 0..5 {
        time(&backbone_only)?;
        time(&full)?;
    }
    // Interleaved so that both see the same machine state.
    let (mut backbone_ms, mut full_ms) = (Vec::new(), Vec::new());
    for _ in 0..args.frames {
        backbone_ms.push(time(&backbone_only)?);
        full_ms.push(time(&full)?);
    }
    let (backbone_ms, full_ms) = (median(&mut backbone_ms), median(&mut full_ms));
    let ratio = full_ms / backbone_ms;
    // The element's `overlay=true` on a frame of this size: the map blended over the picture on the CPU.
    let map = detector.infer(&frame)?.map;
    let (lut, threshold) = (
        Colormap::default().lut(),
        detector.config().thresholds.pixel as f32,
    );
    let mut picture = pixels.clone();
    let mut overlay_ms: Vec<f64> = (0..args.frames)
        .map(|_| {
            let start = Instant::now();
            heatmap::Canvas {
                data: &mut picture,
                width: args.width,
                height: args.height,
                stride: args.width * 3,
                layout: PixelLayout::RGB,
            }
            .blend_map(&map, threshold, &lut, 0.5, false);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let overlay_ms = median(&mut overlay_ms);
    let threads = tch::get_num_threads();
    if args.json {
        println!(
            "{}",
            json!({
                "device": device_name(device),
                "threads": threads,
                "frame": [args.width, args.height],
                "image-size": detector.config().image_size,
                "frames": args.frames,
                "backbone-ms": backbone_ms,
                "full-ms": full_ms,
                "full-over-backbone": ratio,
                "overlay-ms": overlay_ms,
            })
        );
    } else {
        println!(
            "device {} ({threads} threads), {}x{} frames at model size {}, median of {}",
            device_name(device),
            args.width,
            args.height,
            detector.config().image_size,
            args.frames
        );
        println!("backbone only  {backbone_ms:8.2} ms/frame  (preprocessing + feature extraction)");
        println!(
            "full detector  {full_ms:8.2} ms/frame  ({:.1} frames/s)",
            1e3 / full_ms
        );
        println!(
            "full / backbone {ratio:7.3}  (flows, mappers and post-processing add {:.0}%)",
            (ratio - 1.0) * 100.0
        );
        println!(
            "heatmap overlay {overlay_ms:7.2} ms/frame  (the element's overlay=true at this frame size, on the CPU)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

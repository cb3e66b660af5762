// SPDX-License-Identifier: MIT OR Apache-2.0
//! The detector: a loaded model on a device, turning one frame into a score, a verdict and a map. This is
//! the only API the GStreamer element calls.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use std::panic::{AssertUnwindSafe, catch_unwind};

use tch::{Device, Kind, Tensor, nn};

use crate::anomaly::{self, AnomalyMap, GaussianBlur, ScoreMode};
use crate::config::ModelConfig;
use crate::cuda_graph::CapturedForward;
use crate::device::{DeviceSpec, Precision, device_name};
use crate::error::{Error, Result, panic_message};
use crate::frame::{Frame, Normaliser, PixelLayout, StagedFrame};
use crate::model::backbone::Backbone;
use crate::model::{Domains, FoldedFlow, NfBmr, Residuals};
use crate::modelfile::{self, CodePolicy};

/// What the model saw in one frame, before any decision (see [`Detection::verdict`]).
#[derive(Clone, Debug)]
pub struct Detection {
    /// Maximum of the fused anomaly map, in the model's raw units.
    pub raw_score: f64,
    /// The fused map at the model's input resolution, raw units.
    pub map: AnomalyMap,
    /// The model's calibrated thresholds, raw units.
    pub image_threshold: f64,
    pub pixel_threshold: f64,
}

pub struct Detector {
    config: ModelConfig,
    device: Device,
    backbone: Backbone,
    head: NfBmr<FoldedFlow>,
    blur: Option<GaussianBlur>,
    normaliser: Normaliser,
    precision: Precision,
    /// The forward pass recorded as CUDA graphs, one per batch size (a power of two), when asked for
    /// ([`Detector::with_cuda_graphs`]).
    graphs: Option<Mutex<Vec<CapturedForward>>>,
    /// Owns the variables that `backbone` and `head` hold shallow references to.
    variables: nn::VarStore,
    model_id: String,
}

impl Detector {
    /// Loads and validates a `.nfbmr` file onto a device; a file embedding TorchScript is refused unless
    /// `code` allows it.
    pub fn load(path: &Path, device: DeviceSpec, code: CodePolicy) -> Result<Self> {
        let device = device.resolve()?;
        let file = modelfile::read(path)?;
        file.check_code(code, path)?;
        Self::from_tensors(file.config, file.tensors, file.id, device, path)
    }

    /// Builds a detector from a configuration and its named tensors; `source` names them in errors.
    pub fn from_tensors(
        config: ModelConfig,
        mut tensors: HashMap<String, Tensor>,
        model_id: String,
        device: Device,
        source: &Path,
    ) -> Result<Self> {
        config
            .validate()
            .map_err(|problem| Error::model_file(source, problem))?;
        let rng = crate::model::lock_global_rng();
        let variables = nn::VarStore::new(device);
        let root = variables.root();
        let backbone = Backbone::of_model(&root, &config, &mut tensors, device, source)?;
        let head = NfBmr::new(&root, &root, &config);
        drop(rng);
        modelfile::bind(&variables, &tensors, false, source)?;
        let mut variables = variables;
        variables.freeze();
        let backbone = backbone.for_inference(device, Kind::Float);
        let head = tch::no_grad(|| head.folded(Kind::Float));
        let blur = GaussianBlur::new(config.image_size, config.blur_sigma, device);
        let normaliser = Normaliser::new(
            config.image_size,
            config.backbone.mean,
            config.backbone.std,
            device,
        );
        let detector = Detector {
            config,
            device,
            backbone,
            head,
            blur,
            normaliser,
            precision: Precision::Fp32,
            graphs: None,
            variables,
            model_id,
        };
        detector.check_feature_shapes(source)?;
        Ok(detector)
    }

    /// Runs the backbone once on a blank input so that a backbone disagreeing with the configuration
    /// fails at load time, not on the first frame.
    fn check_feature_shapes(&self, source: &Path) -> Result<()> {
        let size = self.config.image_size;
        let blank = Tensor::zeros([1, 3, size, size], (Kind::Float, self.device));
        let features = tch::no_grad(|| self.backbone.features(&blank))?;
        let expected: Vec<Vec<i64>> = self
            .config
            .scales
            .iter()
            .map(|s| vec![1, s.channels, s.height, s.width])
            .collect();
        let actual: Vec<Vec<i64>> = features.iter().map(Tensor::size).collect();
        if actual != expected {
            return Err(Error::model_file(
                source,
                format!(
                    "backbone produces feature maps {actual:?}, the model expects {expected:?}"
                ),
            ));
        }
        Ok(())
    }

    /// The detector computing in `precision`: the backbone, flows and mappers run in it, and their maps
    /// are fused and scored in fp32. The weights are cast in place, from those the detector has (fp32 as
    /// loaded). A device that cannot run the model in `precision` is refused here, not at the first frame.
    pub fn with_precision(mut self, precision: Precision) -> Result<Self> {
        self.backbone = self.backbone.for_inference(self.device, precision.kind());
        self.head = tch::no_grad(|| self.head.folded(precision.kind()));
        match precision {
            Precision::Fp32 => self.variables.float(),
            Precision::Fp16 => self.variables.half(),
            Precision::Bf16 => self.variables.bfloat16(),
        }
        self.precision = precision;
        let size = self.config.image_size;
        let blank = Tensor::zeros([1, 3, size, size], (Kind::Float, self.device));
        // tch panics with libtorch's message when an operation lacks a kernel for a number format.
        drop(
            catch_unwind(AssertUnwindSafe(|| self.anomaly_maps(&blank))).map_err(|panic| {
                Error::Device(format!(
                    "the model cannot run in {precision} on {}: {}",
                    device_name(self.device),
                    panic_message(&*panic)
                ))
            })??,
        );
        Ok(self)
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The detector replaying its forward pass from CUDA graphs in [`Detector::infer_batch`]: one launch
    /// per batch instead of hundreds of small kernels. Each batch size is recorded on first use, rounded up
    /// to a power of two (a smaller batch fills the first rows). Refused on the CPU and in builds whose
    /// libtorch has no CUDA. Call it after [`Detector::with_precision`].
    pub fn with_cuda_graphs(mut self) -> Result<Self> {
        if !self.device.is_cuda() {
            return Err(Error::Device(format!(
                "CUDA graphs need a CUDA device; the model runs on {}",
                device_name(self.device)
            )));
        }
        if !crate::cuda_graph::AVAILABLE {
            return Err(Error::Device(
                "CUDA graphs are not available: nfbmr was built against a libtorch without CUDA"
                    .into(),
            ));
        }
        self.graphs = Some(Mutex::new(Vec::new()));
        Ok(self)
    }

    pub fn uses_cuda_graphs(&self) -> bool {
        self.graphs.is_some()
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Normalised model input [B, 3, S, S] from R'G'B' [B, 3, H, W] (float, 0–255) on this device.
    pub fn preprocess(&self, rgb: &Tensor) -> Tensor {
        self.normaliser.apply(rgb)
    }

    /// Backbone feature maps of a preprocessed batch, in the detector's precision.
    pub fn features(&self, input: &Tensor) -> Result<Vec<Tensor>> {
        tch::no_grad(|| {
            self.backbone
                .features(&input.to_kind(self.precision.kind()))
        })
    }

    /// Fused anomaly maps [B, 1, S, S] (raw units) of a preprocessed batch.
    pub fn anomaly_maps(&self, input: &Tensor) -> Result<Tensor> {
        Ok(self.anomaly_maps_by(input, &[ScoreMode::Fused])?.remove(0))
    }

    /// Anomaly maps [B, 1, S, S] of a preprocessed batch in each of `modes`, from one pass of the model.
    pub fn anomaly_maps_by(&self, input: &Tensor, modes: &[ScoreMode]) -> Result<Vec<Tensor>> {
        tch::no_grad(|| {
            let features = self
                .backbone
                .features(&input.to_kind(self.precision.kind()))?;
            let domains = self.head.domains(&features);
            let residuals = self.head.residuals(&domains, false);
            let (domains, residuals) = as_float(domains, residuals);
            Ok(modes
                .iter()
                .map(|&mode| {
                    anomaly::maps(mode, &domains, &residuals, &self.config, self.blur.as_ref())
                })
                .collect())
        })
    }

    /// The fused maps of a preprocessed batch, replayed from the CUDA graph recorded for its size rounded
    /// up to a power of two (recorded now if there is none) when the detector uses them.
    fn batch_maps(&self, batch: &Tensor) -> Result<Tensor> {
        let Some(graphs) = &self.graphs else {
            return self.anomaly_maps(batch);
        };
        let mut graphs = graphs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut shape = batch.size();
        shape[0] = (shape[0] as u64).next_power_of_two() as i64;
        let index = match graphs.iter().position(|g| g.batch() == shape[0]) {
            Some(index) => index,
            None => {
                let example = Tensor::zeros(shape.as_slice(), (batch.kind(), self.device));
                let graph = CapturedForward::capture(&example, |input| self.anomaly_maps(input))?;
                graphs.push(graph);
                graphs.len() - 1
            }
        };
        graphs[index].run(batch)
    }

    /// Scores a blank frame alone and in a batch of `batch`, so that CUDA loads its kernels and cuDNN picks
    /// its algorithms while the model loads rather than on a live stream's first frames.
    pub fn warm_up(&self, batch: usize) -> Result<()> {
        let size = self.config.image_size as usize;
        let pixels = vec![0; size * size * 3];
        let staged =
            Frame::packed(&pixels, size, size, PixelLayout::RGB).stage(self.device, None)?;
        for n in [1, batch.max(1)] {
            self.infer_batch(&vec![&staged; n])?;
        }
        Ok(())
    }

    /// Scores one frame.
    pub fn infer(&self, frame: &Frame) -> Result<Detection> {
        let staged = frame.stage(self.device, None)?;
        Ok(self.infer_batch(&[&staged])?.remove(0))
    }

    /// Scores staged frames (of any sizes and formats) as one batch: each is uploaded, converted and
    /// resized on the device, and only the maps come back, in one download.
    pub fn infer_batch(&self, frames: &[&StagedFrame]) -> Result<Vec<Detection>> {
        let inputs: Vec<Tensor> = frames
            .iter()
            .map(|frame| self.preprocess(&frame.rgb(self.device)))
            .collect();
        let maps = self
            .batch_maps(&Tensor::cat(&inputs, 0))?
            .to_device(Device::Cpu);
        let thresholds = &self.config.thresholds;
        (0..frames.len() as i64)
            .map(|i| {
                let map = AnomalyMap::from_tensor(&maps.get(i))?;
                Ok(Detection {
                    raw_score: map.max() as f64,
                    map,
                    image_threshold: thresholds.image,
                    pixel_threshold: thresholds.pixel,
                })
            })
            .collect()
    }
}

/// The domains and residuals in fp32, where maps are fused and scored whatever the network ran in.
fn as_float(domains: Vec<Domains>, residuals: Vec<Residuals>) -> (Vec<Domains>, Vec<Residuals>) {
    let float = |t: Tensor| t.to_kind(Kind::Float);
    (
        domains
            .into_iter()
            .map(|d| Domains {
                source: float(d.source),
                target: float(d.target),
            })
            .collect(),
        residuals
            .into_iter()
            .map(|r| Residuals {
                forward: float(r.forward),
                backward: float(r.backward),
            })
            .collect(),
    )
}

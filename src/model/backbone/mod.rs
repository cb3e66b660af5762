// SPDX-License-Identifier: MIT OR Apache-2.0
//! The frozen ImageNet feature extractor that defines the source domain.
//!
//! EfficientNet-Lite (Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019; the Lite variants
//! drop squeeze-excitation, use ReLU6 and fix the stem and head widths). Variable names follow the
//! lukemelas/`efficientnet-lite-pytorch` checkpoints (`_conv_stem`, `_blocks.N._depthwise_conv`, …) so the
//! packaged ImageNet weights load unchanged. The weights come from TensorFlow, hence TF "SAME" padding
//! (asymmetric on stride-2 convolutions) and BatchNorm eps 1e-3.
//!
//! A TorchScript module returning a list of feature maps can stand in for it.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

mod layers;
mod lite;

use tch::nn;
use tch::{CModule, Device, IValue, Kind, Tensor};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::modelfile;
pub use lite::{EfficientNetLite, Lite};

/// Identifier of a user-supplied TorchScript backbone.
pub const TORCHSCRIPT: &str = "torchscript";

/// Inputs are scaled to [-1, 1], as the TensorFlow Lite models were trained.
pub const LITE_MEAN: [f64; 3] = [0.5, 0.5, 0.5];
pub const LITE_STD: [f64; 3] = [0.5, 0.5, 0.5];
/// Normalisation assumed for TorchScript backbones (torchvision's ImageNet statistics).
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// Name of the tensor holding a TorchScript backbone's serialised module in a model file.
pub const TORCHSCRIPT_TENSOR: &str = "backbone.torchscript";
/// The var-store path of a native backbone's variables: its tensors are saved as `backbone._conv_stem…`.
const VARIABLES: &str = "backbone";

/// The source-domain feature extractor of a detector.
pub enum Backbone {
    EfficientNetLite(Box<EfficientNetLite>),
    /// A TorchScript module taking a normalised [B, 3, H, W] batch and returning a list or tuple of maps;
    /// `taps` selects which of them are used (all when empty).
    TorchScript {
        module: CModule,
        taps: Vec<usize>,
    },
}

impl Backbone {
    /// An EfficientNet-Lite tapped at `taps`, its variables created under `root` with the names a model
    /// file stores them under (initialised at random: bind weights next).
    pub fn lite(root: &nn::Path, lite: Lite, taps: &[usize]) -> Result<Self> {
        let net = EfficientNetLite::features(&(root / VARIABLES), lite, taps)?;
        Ok(Backbone::EfficientNetLite(Box::new(net)))
    }

    /// Binds a converted ImageNet checkpoint (safetensors, lukemelas names) to the variables of
    /// [`Backbone::lite`] in `variables`.
    pub fn bind_lite_weights(variables: &nn::VarStore, weights: &Path) -> Result<()> {
        let checkpoint: HashMap<String, Tensor> = modelfile::read_checkpoint(weights)?
            .into_iter()
            .map(|(name, t)| (format!("{VARIABLES}.{name}"), t))
            .collect();
        modelfile::bind(variables, &checkpoint, true, weights)
    }

    /// The backbone a model file describes: the native network under `root` (its weights are bound with
    /// the rest of the model), or the TorchScript module the file embeds, taken out of `tensors`.
    pub fn of_model(
        root: &nn::Path,
        config: &ModelConfig,
        tensors: &mut HashMap<String, Tensor>,
        device: Device,
        source: &Path,
    ) -> Result<Self> {
        let taps: Vec<usize> = config.scales.iter().map(|s| s.block).collect();
        if let Some(lite) = Lite::from_id(&config.backbone.id) {
            return Self::lite(root, lite, &taps);
        }
        match config.backbone.id.as_str() {
            TORCHSCRIPT => {
                let module = tensors.remove(TORCHSCRIPT_TENSOR).ok_or_else(|| {
                    Error::model_file(source, format!("is missing tensor '{TORCHSCRIPT_TENSOR}'"))
                })?;
                let bytes = Vec::<u8>::try_from(&module.flatten(0, -1))?;
                Self::torchscript(&bytes, taps, device)
                    .map_err(|e| Error::model_file(source, e.to_string()))
            }
            other => Err(Error::model_file(
                source,
                format!("names unknown backbone '{other}'"),
            )),
        }
    }

    /// The backbone for inference on `device` in `kind`: the native network with its BatchNorms folded
    /// into its convolutions (call once the weights are bound); a TorchScript module cast as it is.
    pub fn for_inference(self, device: Device, kind: Kind) -> Self {
        match self {
            Backbone::EfficientNetLite(net) => {
                Backbone::EfficientNetLite(Box::new(tch::no_grad(|| net.folded(kind))))
            }
            Backbone::TorchScript { mut module, taps } => {
                module.to(device, kind, false);
                Backbone::TorchScript { module, taps }
            }
        }
    }

    /// Loads a serialised TorchScript module (the bytes of a `.pt` file).
    pub fn torchscript(bytes: &[u8], taps: Vec<usize>, device: Device) -> Result<Self> {
        let mut module = CModule::load_data_on_device(&mut Cursor::new(bytes), device)
            .map_err(|e| Error::Backbone(format!("not a loadable TorchScript module: {e}")))?;
        module.set_eval();
        Ok(Backbone::TorchScript { module, taps })
    }

    /// Feature maps [B, C_k, h_k, w_k] for the configured scales.
    pub fn features(&self, xs: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Backbone::EfficientNetLite(net) => Ok(net.forward_features(xs)),
            Backbone::TorchScript { module, taps } => {
                let output = module
                    .forward_is(&[IValue::Tensor(xs.shallow_clone())])
                    .map_err(|e| Error::Backbone(format!("TorchScript forward failed: {e}")))?;
                let maps = match output {
                    IValue::TensorList(maps) => maps,
                    IValue::Tuple(items) | IValue::GenericList(items) => items
                        .into_iter()
                        .map(|item| match item {
                            IValue::Tensor(t) => Ok(t),
                            other => Err(Error::Backbone(format!(
                                "TorchScript backbone returned a list holding {other:?}, expected tensors"
                            ))),
                        })
                        .collect::<Result<_>>()?,
                    IValue::Tensor(t) => vec![t],
                    other => {
                        return Err(Error::Backbone(format!(
                            "TorchScript backbone must return a list of feature maps, got {other:?}"
                        )));
                    }
                };
                if taps.is_empty() {
                    return Ok(maps);
                }
                taps.iter()
                    .map(|&i| {
                        maps.get(i).map(Tensor::shallow_clone).ok_or_else(|| {
                            Error::Backbone(format!(
                                "TorchScript backbone returned {} maps, map {i} requested",
                                maps.len()
                            ))
                        })
                    })
                    .collect()
            }
        }
    }
}

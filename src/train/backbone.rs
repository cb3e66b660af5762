// SPDX-License-Identifier: MIT OR Apache-2.0
//! The frozen backbone of a training run, with the tensors it is saved under.

use tch::{Device, Kind, Tensor, nn};

use super::BackboneChoice;
use crate::error::{Error, Result};
use crate::model::backbone::{self, Backbone, TORCHSCRIPT_TENSOR};
use crate::weights;

pub(super) struct FrozenBackbone {
    pub backbone: Backbone,
    pub taps: Vec<usize>,
    pub id: &'static str,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// What the model file stores of it: the native network's weights or the TorchScript module's bytes.
    pub tensors: Vec<(String, Tensor)>,
    // Owns the variables that `backbone` holds shallow references to.
    _variables: nn::VarStore,
}

impl FrozenBackbone {
    pub fn load(choice: &BackboneChoice, image_size: i64, device: Device) -> Result<Self> {
        match choice {
            &BackboneChoice::EfficientNetLite {
                lite,
                ref weights,
                ref taps,
            } => {
                let weights = match weights {
                    Some(path) => path.clone(),
                    None => weights::backbone_weights(lite.id())?,
                };
                let mut variables = nn::VarStore::new(device);
                let net = Backbone::lite(&variables.root(), lite, taps)?;
                Backbone::bind_lite_weights(&variables, &weights)?;
                variables.freeze();
                Ok(FrozenBackbone {
                    backbone: net,
                    taps: taps.clone(),
                    id: lite.id(),
                    mean: backbone::LITE_MEAN,
                    std: backbone::LITE_STD,
                    tensors: super::phases::sorted_variables(&variables),
                    _variables: variables,
                })
            }
            BackboneChoice::TorchScript { path, taps } => {
                let bytes = std::fs::read(path).map_err(|e| {
                    Error::io(
                        format!("reading TorchScript backbone {}", path.display()),
                        e,
                    )
                })?;
                let mut module = Backbone::torchscript(&bytes, vec![], device)?;
                let wanted = torchscript_taps(&module, taps.as_deref(), image_size, device)?;
                if let Backbone::TorchScript { taps, .. } = &mut module {
                    taps.clone_from(&wanted);
                }
                Ok(FrozenBackbone {
                    backbone: module,
                    taps: wanted,
                    id: backbone::TORCHSCRIPT,
                    mean: backbone::IMAGENET_MEAN,
                    std: backbone::IMAGENET_STD,
                    tensors: vec![(TORCHSCRIPT_TENSOR.to_string(), Tensor::from_slice(&bytes))],
                    _variables: nn::VarStore::new(device),
                })
            }
        }
    }
}

/// The maps of a TorchScript backbone that become scales: `wanted`, or all it returns, checked against what
/// it returns for a blank input.
fn torchscript_taps(
    module: &Backbone,
    wanted: Option<&[usize]>,
    image_size: i64,
    device: Device,
) -> Result<Vec<usize>> {
    let blank = Tensor::zeros([1, 3, image_size, image_size], (Kind::Float, device));
    let count = tch::no_grad(|| module.features(&blank))?.len();
    if count == 0 {
        return Err(Error::Backbone(
            "TorchScript backbone returned no feature maps".into(),
        ));
    }
    let wanted = wanted.map_or_else(|| (0..count).collect(), <[usize]>::to_vec);
    if let Some(&missing) = wanted.iter().find(|&&i| i >= count) {
        return Err(Error::Backbone(format!(
            "TorchScript backbone returns {count} feature maps, map {missing} requested"
        )));
    }
    Ok(wanted)
}

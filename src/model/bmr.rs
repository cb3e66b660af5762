// SPDX-License-Identifier: MIT OR Apache-2.0
//! Bidirectional mapping residual network: a forward mapper from the source domain S to the target domain T
//! and a backward mapper from T to S, both 1×1-convolution stacks as in B-PFM (Wan et al., IEEE TII 2022,
//! Table I) whose middle layer, the shared mapping unit, is one set of weights used by both directions.
//! 1×1 kernels keep the mapping per position, so a mapper cannot fill a defect in from normal neighbours.
//! The mappers see S whitened by its channel covariance on the training images, so that the backward
//! residual is a Mahalanobis distance in the source domain, as the forward one is in the flow's whitened
//! target domain.

use tch::nn;
use tch::{Kind, Tensor};

use super::conv::{Conv, batch_norm_affine};

/// The mappers' BatchNorm epsilon (torch's default, as in B-PFM).
const BN_EPS: f64 = 1e-5;

/// ReLU(BatchNorm(Conv1×1)), B-PFM's ConvBlock; folded for inference, ReLU(Conv1×1).
#[derive(Debug)]
struct ConvBlock {
    conv: Conv,
    bn: Option<nn::BatchNorm>,
}

impl ConvBlock {
    fn new(p: nn::Path, c_in: i64, c_out: i64) -> Self {
        ConvBlock {
            conv: Conv::pointwise(&p / "conv", c_in, c_out, false),
            // Over rows of channels: a BatchNorm1d, whose variables are a BatchNorm2d's.
            bn: Some(nn::batch_norm1d(&p / "bn", c_out, Default::default())),
        }
    }

    /// On positions as rows [M, C].
    fn forward_t(&self, rows: &Tensor, train: bool) -> Tensor {
        let mut ys = self.conv.apply_to_rows(rows);
        if let Some(bn) = &self.bn {
            ys = ys.apply_t(bn, train);
        }
        let _ = ys.relu_();
        ys
    }

    fn folded(&self, kind: Kind) -> Self {
        let conv = match &self.bn {
            Some(bn) => {
                let (scale, shift) = batch_norm_affine(bn, BN_EPS);
                self.conv.scaled(&scale, &shift, kind)
            }
            None => self.conv.to_kind(kind),
        };
        ConvBlock { conv, bn: None }
    }
}

/// One direction: two blocks into the shared unit's input width, two blocks and a plain conv out of it.
#[derive(Debug)]
struct Mapper {
    encode: [ConvBlock; 2],
    decode: [ConvBlock; 2],
    out: Conv,
}

impl Mapper {
    fn new(p: nn::Path, channels: i64, latent: i64) -> Self {
        let wide = channels / 2 + latent;
        Mapper {
            encode: [
                ConvBlock::new(&p / "encode" / 0, channels, wide),
                ConvBlock::new(&p / "encode" / 1, wide, 2 * latent),
            ],
            decode: [
                ConvBlock::new(&p / "decode" / 0, latent, 2 * latent),
                ConvBlock::new(&p / "decode" / 1, 2 * latent, wide),
            ],
            out: Conv::pointwise(&p / "out", wide, channels, true),
        }
    }

    /// On positions as rows [M, C].
    fn forward_t(&self, rows: &Tensor, shared: &Conv, train: bool) -> Tensor {
        let encoded = self
            .encode
            .iter()
            .fold(rows.shallow_clone(), |x, block| block.forward_t(&x, train));
        let middle = shared.apply_to_rows(&encoded);
        let decoded = self
            .decode
            .iter()
            .fold(middle, |x, block| block.forward_t(&x, train));
        self.out.apply_to_rows(&decoded)
    }

    fn folded(&self, kind: Kind) -> Self {
        let fold = |blocks: &[ConvBlock; 2]| blocks.each_ref().map(|block| block.folded(kind));
        Mapper {
            encode: fold(&self.encode),
            decode: fold(&self.decode),
            out: self.out.to_kind(kind),
        }
    }
}

#[derive(Debug)]
pub struct Bmr {
    forward: Mapper,
    backward: Mapper,
    shared: Conv,
    /// The source domain's channel mean [C, 1] and the inverse square root of its channel covariance [C, C]
    /// on the training images. Without it the backward loss and residual are dominated by the few
    /// directions of S that vary most on good parts, and a defect that moves S along a quiet direction is
    /// mapped back almost exactly (measured on the development set: oriented grain, finest scale,
    /// backward-only image AUROC 0.80 without, 0.91 with). Zero and identity until
    /// [`Bmr::set_source_whitening`] runs.
    source_mean: Tensor,
    source_whitening: Tensor,
    /// Mean residual at each position [1, 1, h, w] on the training images, per direction: residuals are
    /// measured in these units. Ones until [`Bmr::set_position_units`] runs after training.
    forward_position_unit: Tensor,
    backward_position_unit: Tensor,
}

impl Bmr {
    /// Mappers for `channels`×`height`×`width` source and target features with shared-unit width `latent`.
    pub fn new(p: &nn::Path, channels: i64, height: i64, width: i64, latent: i64) -> Self {
        Bmr {
            forward: Mapper::new(p / "forward", channels, latent),
            backward: Mapper::new(p / "backward", channels, latent),
            shared: Conv::pointwise(p / "shared", 2 * latent, latent, true),
            source_mean: p.zeros_no_train("source_mean", &[channels, 1]),
            source_whitening: p.add(
                "source_whitening",
                Tensor::eye(channels, (Kind::Float, p.device())),
                false,
            ),
            forward_position_unit: p.ones_no_train("forward_position_unit", &[1, 1, height, width]),
            backward_position_unit: p
                .ones_no_train("backward_position_unit", &[1, 1, height, width]),
        }
    }

    /// These mappers for inference in `kind`, with their BatchNorms folded into the convolutions. The other
    /// tensors stay shared with the variables (cast with them). Call under `no_grad`.
    pub fn folded(&self, kind: Kind) -> Self {
        Bmr {
            forward: self.forward.folded(kind),
            backward: self.backward.folded(kind),
            shared: self.shared.to_kind(kind),
            source_mean: self.source_mean.shallow_clone(),
            source_whitening: self.source_whitening.shallow_clone(),
            forward_position_unit: self.forward_position_unit.shallow_clone(),
            backward_position_unit: self.backward_position_unit.shallow_clone(),
        }
    }

    /// S as rows [M, C] in the whitened units the mappers work in.
    fn whiten(&self, source: &Tensor) -> Tensor {
        (source - self.source_mean.tr()).matmul(&self.source_whitening.tr())
    }

    /// T̂ = M_f(S), from whitened S, on positions as rows [M, C].
    pub fn map_forward(&self, whitened_source: &Tensor, train: bool) -> Tensor {
        self.forward.forward_t(whitened_source, &self.shared, train)
    }

    /// Ŝ = M_b(T), in whitened units, on positions as rows [M, C].
    pub fn map_backward(&self, target: &Tensor, train: bool) -> Tensor {
        self.backward.forward_t(target, &self.shared, train)
    }

    /// Squared mapping errors [B, 1, h, w] of both directions, averaged over channels. Squared in fp32
    /// whatever the mappers ran in: a half-precision square overflows from errors of 256.
    fn squared_errors(&self, source: &Tensor, target: &Tensor, train: bool) -> (Tensor, Tensor) {
        let size = source.size();
        let channel_mean = |error: Tensor| {
            error
                .to_kind(Kind::Float)
                .square()
                .mean_dim([1].as_slice(), false, Kind::Float)
                .view([size[0], 1, size[2], size[3]])
        };
        let target = positions(target);
        let whitened_source = self.whiten(&positions(source));
        (
            channel_mean(self.map_forward(&whitened_source, train) - &target),
            channel_mean(self.map_backward(&target, train) - whitened_source),
        )
    }

    /// Sets the source whitening from the training source domain [N, C, h, w], before the mappers train.
    pub fn set_source_whitening(&self, source: &Tensor) {
        tch::no_grad(|| {
            let channels = source.size()[1];
            let samples = positions(source).to_kind(Kind::Double);
            let mean = samples.mean_dim([0].as_slice(), true, Kind::Double);
            let centred = &samples - &mean;
            let covariance = centred.tr().matmul(&centred) / (samples.size()[0] - 1).max(1) as f64;
            let (variances, directions) = covariance.linalg_eigh("L");
            // Directions with (numerically) no variance would be amplified without bound.
            let floor = variances.max().double_value(&[]).max(1e-12) * 1e-6;
            let inverse_sqrt = &directions * variances.clamp_min(floor).rsqrt().unsqueeze(0);
            let whitening = inverse_sqrt.matmul(&directions.tr());
            self.source_mean
                .shallow_clone()
                .copy_(&mean.view([channels, 1]));
            self.source_whitening.shallow_clone().copy_(&whitening);
        });
    }

    /// Per-position residuals [B, 1, h, w] of both directions, each in its position's unit. Without
    /// position units the ring of positions whose receptive field reaches the backbone's zero padding
    /// dominates the backward residual's maximum on good images (measured: backward-only image AUROC 0.63
    /// with, 0.90 without that ring).
    pub fn residuals(&self, source: &Tensor, target: &Tensor, train: bool) -> (Tensor, Tensor) {
        let (forward, backward) = self.squared_errors(source, target, train);
        (
            forward / &self.forward_position_unit,
            backward / &self.backward_position_unit,
        )
    }

    /// Sets the position units from the training domains, once the mappers are trained.
    pub fn set_position_units(&self, source: &Tensor, target: &Tensor) {
        tch::no_grad(|| {
            let (forward, backward) = self.squared_errors(source, target, false);
            let unit = |errors: Tensor| {
                errors
                    .mean_dim([0].as_slice(), true, Kind::Float)
                    .clamp_min(1e-12)
            };
            self.forward_position_unit
                .shallow_clone()
                .copy_(&unit(forward));
            self.backward_position_unit
                .shallow_clone()
                .copy_(&unit(backward));
        });
    }
}

/// Feature maps [B, C, h, w] as rows of channels, one per position [B·h·w, C]. The mappers work per
/// position, and on rows each layer is one matrix product and each BatchNorm one pass over contiguous
/// memory (measured: a 200-image training took 839 s on maps and 547 s on rows, docs/benchmarks.md).
fn positions(maps: &Tensor) -> Tensor {
    let channels = maps.size()[1];
    maps.permute([0, 2, 3, 1]).reshape([-1, channels])
}

/// The default width of the shared unit: three quarters of the feature width, B-PFM's ResNet18 ratio.
pub fn default_latent(channels: i64) -> i64 {
    (channels * 3 / 4).max(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Names of the variables in `vs` that `keep` accepts.
    fn variable_names(vs: &nn::VarStore, keep: impl Fn(&str) -> bool) -> Vec<String> {
        vs.variables()
            .into_keys()
            .filter(|name| keep(name))
            .collect()
    }

    #[test]
    fn mappers_keep_the_feature_shape_and_share_one_unit() {
        let vs = nn::VarStore::new(Device::Cpu);
        let bmr = Bmr::new(&vs.root(), 24, 8, 8, default_latent(24));
        for (h, w) in [(8, 8), (5, 7), (1, 1)] {
            let rows = positions(&Tensor::randn([2, 24, h, w], (Kind::Float, Device::Cpu)));
            assert_eq!(bmr.map_forward(&rows, false).size(), vec![2 * h * w, 24]);
            assert_eq!(bmr.map_backward(&rows, true).size(), vec![2 * h * w, 24]);
        }
        let shared = variable_names(&vs, |name| name.starts_with("shared"));
        assert_eq!(shared.len(), 2, "{shared:?}"); // one weight and one bias
    }

    #[test]
    fn folded_mappers_give_the_same_residuals() {
        tch::manual_seed(6);
        let vs = nn::VarStore::new(Device::Cpu);
        let bmr = Bmr::new(&vs.root(), 10, 6, 6, default_latent(10));
        let source = Tensor::randn([3, 10, 6, 6], (Kind::Float, Device::Cpu));
        let target = Tensor::randn([3, 10, 6, 6], (Kind::Float, Device::Cpu));
        // Running statistics away from their initial zeros and ones, as after training.
        let _ = bmr.residuals(&(&source * 2.0 + 0.5), &target, true);
        tch::no_grad(|| {
            let plain = bmr.residuals(&source, &target, false);
            let folded = bmr.folded(Kind::Float).residuals(&source, &target, false);
            for (plain, folded) in [(plain.0, folded.0), (plain.1, folded.1)] {
                let error = (&plain - folded).abs().max().double_value(&[]);
                let peak = plain.abs().max().double_value(&[]);
                assert!(
                    error < 1e-5 * peak,
                    "error {error} against a peak of {peak}"
                );
            }
        });
    }

    #[test]
    fn source_whitening_makes_the_training_channel_covariance_the_identity() {
        let vs = nn::VarStore::new(Device::Cpu);
        let bmr = Bmr::new(&vs.root(), 6, 5, 5, default_latent(6));
        // Correlated channels with very different variances and an offset, as LayerNormed features have.
        let (rotation, _) = Tensor::linalg_qr(
            &Tensor::randn([6, 6], (Kind::Float, Device::Cpu)),
            "reduced",
        );
        let mixing =
            rotation * Tensor::from_slice(&[3.0f32, 1.0, 0.5, 0.2, 0.1, 0.05]).unsqueeze(0);
        let latent = Tensor::randn([64, 6, 5, 5], (Kind::Float, Device::Cpu));
        let source = Tensor::einsum("dc,bchw->bdhw", &[&mixing, &latent], None::<i64>) + 0.7;
        bmr.set_source_whitening(&source);
        let whitened = bmr.whiten(&positions(&source));
        let mean = whitened.mean_dim([0].as_slice(), false, Kind::Float);
        assert!(mean.abs().max().double_value(&[]) < 1e-3);
        let covariance = whitened.tr().matmul(&whitened) / (whitened.size()[0] - 1) as f64;
        let off_identity = (covariance - Tensor::eye(6, (Kind::Float, Device::Cpu)))
            .abs()
            .max()
            .double_value(&[]);
        assert!(off_identity < 1e-3, "{off_identity}");
        let saved = variable_names(&vs, |name| name.starts_with("source_"));
        assert_eq!(saved.len(), 2, "saved with the model: {saved:?}");
    }

    #[test]
    fn position_units_make_the_training_residual_one_everywhere() {
        let vs = nn::VarStore::new(Device::Cpu);
        let bmr = Bmr::new(&vs.root(), 8, 6, 6, default_latent(8));
        // Errors much larger in one corner, as where the receptive field meets the zero padding.
        let corner = Tensor::ones([1, 1, 6, 6], (Kind::Float, Device::Cpu));
        let _ = corner.narrow(2, 0, 1).narrow(3, 0, 1).fill_(20.0);
        let source = Tensor::randn([16, 8, 6, 6], (Kind::Float, Device::Cpu)) * &corner;
        let target = Tensor::randn([16, 8, 6, 6], (Kind::Float, Device::Cpu));
        bmr.set_position_units(&source, &target);
        let (forward, backward) = bmr.residuals(&source, &target, false);
        for residual in [forward, backward] {
            assert_eq!(residual.size(), vec![16, 1, 6, 6]);
            let per_position = residual.mean_dim([0].as_slice(), false, Kind::Float);
            let spread = (per_position - 1.0).abs().max().double_value(&[]);
            assert!(spread < 1e-4, "{spread}");
        }
        let units = variable_names(&vs, |name| name.ends_with("position_unit"));
        assert_eq!(units.len(), 2, "saved with the model: {units:?}");
    }
}

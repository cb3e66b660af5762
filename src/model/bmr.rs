// SPDX-License-Identifier: MIT OR Apache-2.0
//! Bidirectional mapping residual network: a forward mapper from the source domain S to the target domain T
//! and a backward mapper from T to S, both 1×1-convolution stacks as in B-PFM (Wan et al., IEEE TII 2022,
//! Table I) whose middle layer, the shared mapping unit, is one set of weights used by both directions.
//! 1×1 kernels keep the mapping per position, so a mapper cannot fill a defect in from normal neighbours.

use tch::Tensor;
use tch::nn;

use super::conv::Conv;

/// ReLU(BatchNorm(Conv1×1)), B-PFM's ConvBlock.
#[derive(Debug)]
struct ConvBlock {
    conv: Conv,
    bn: nn::BatchNorm,
}

impl ConvBlock {
    fn new(p: nn::Path, c_in: i64, c_out: i64) -> Self {
        ConvBlock {
            conv: Conv::pointwise(&p / "conv", c_in, c_out, false),
            bn: nn::batch_norm2d(&p / "bn", c_out, Default::default()),
        }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.apply(&self.conv).apply_t(&self.bn, train).relu()
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

    fn forward_t(&self, xs: &Tensor, shared: &Conv, train: bool) -> Tensor {
        let encoded = self
            .encode
            .iter()
            .fold(xs.shallow_clone(), |x, block| block.forward_t(&x, train));
        let middle = encoded.apply(shared);
        self.decode
            .iter()
            .fold(middle, |x, block| block.forward_t(&x, train))
            .apply(&self.out)
    }
}

#[derive(Debug)]
pub struct Bmr {
    forward: Mapper,
    backward: Mapper,
    shared: Conv,
}

impl Bmr {
    /// Mappers for `channels`-wide source and target features with shared-unit width `latent`.
    pub fn new(p: &nn::Path, channels: i64, latent: i64) -> Self {
        Bmr {
            forward: Mapper::new(p / "forward", channels, latent),
            backward: Mapper::new(p / "backward", channels, latent),
            shared: Conv::pointwise(p / "shared", 2 * latent, latent, true),
        }
    }

    /// T̂ = M_f(S).
    pub fn map_forward(&self, source: &Tensor, train: bool) -> Tensor {
        self.forward.forward_t(source, &self.shared, train)
    }

    /// Ŝ = M_b(T).
    pub fn map_backward(&self, target: &Tensor, train: bool) -> Tensor {
        self.backward.forward_t(target, &self.shared, train)
    }
}

/// The default width of the shared unit: three quarters of the feature width, B-PFM's ResNet18 ratio.
pub fn default_latent(channels: i64) -> i64 {
    (channels * 3 / 4).max(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn mappers_keep_the_feature_shape_and_share_one_unit() {
        let vs = nn::VarStore::new(Device::Cpu);
        let bmr = Bmr::new(&vs.root(), 24, default_latent(24));
        for (h, w) in [(8, 8), (5, 7), (1, 1)] {
            let xs = Tensor::randn([2, 24, h, w], (Kind::Float, Device::Cpu));
            assert_eq!(bmr.map_forward(&xs, false).size(), vec![2, 24, h, w]);
            assert_eq!(bmr.map_backward(&xs, true).size(), vec![2, 24, h, w]);
        }
        let shared: Vec<String> = vs
            .variables()
            .into_keys()
            .filter(|name| name.starts_with("shared"))
            .collect();
        assert_eq!(shared.len(), 2, "{shared:?}"); // one weight and one bias
    }
}

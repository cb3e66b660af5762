// SPDX-License-Identifier: MIT OR Apache-2.0
//! Stride-1 convolution with "same" padding, whose 1×1 case runs as a matrix product, and the folding of
//! per-channel affine maps (an inference-mode BatchNorm) into the convolution before them.
//!
//! libtorch's CPU convolution pays a large fixed cost per call on small inputs (measured: 24→30 channels at
//! 64×64, 283 µs as a convolution against 38 µs as a matrix product, 2 threads). The mappers and flows are
//! made of such calls, so 1×1 layers are products over the channels, batched over the images; the
//! mappers, 1×1 layers only, go further and keep every position as a row of channels throughout. Variables
//! are a Conv2d's (`weight` [out, in, k, k], `bias`), so checkpoints are unchanged.

use tch::{Kind, Tensor, nn};

#[derive(Debug)]
pub struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    kernel: i64,
}

impl Conv {
    /// A `kernel`×`kernel` convolution (odd kernel) keeping the spatial size.
    pub fn new(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, bias: bool) -> Self {
        let config = nn::ConvConfig {
            bias,
            ..Default::default()
        };
        let conv = nn::conv2d(p, c_in, c_out, kernel, config);
        Conv {
            weight: conv.ws,
            bias: conv.bs,
            kernel,
        }
    }

    /// A 1×1 convolution.
    pub fn pointwise(p: nn::Path, c_in: i64, c_out: i64, bias: bool) -> Self {
        Self::new(p, c_in, c_out, 1, bias)
    }

    /// This convolution with its output channels scaled by `scale` and shifted by `shift` ([out] each), in
    /// `kind`.
    pub fn scaled(&self, scale: &Tensor, shift: &Tensor, kind: Kind) -> Conv {
        let (weight, bias) = scale_output_channels(&self.weight, self.bias.as_ref(), scale, shift);
        Conv {
            weight: weight.to_kind(kind),
            bias: Some(bias.to_kind(kind)),
            kernel: self.kernel,
        }
    }

    /// This 1×1 convolution applied to positions as rows, [M, in] → [M, out]: one matrix product.
    pub fn apply_to_rows(&self, rows: &Tensor) -> Tensor {
        debug_assert_eq!(self.kernel, 1, "only a 1×1 convolution works on rows");
        let size = self.weight.size();
        let weight = self.weight.view([size[0], size[1]]).tr();
        match &self.bias {
            Some(bias) => bias.addmm(rows, &weight),
            None => rows.matmul(&weight),
        }
    }

    /// A copy of this convolution's weights in `kind`.
    pub fn to_kind(&self, kind: Kind) -> Conv {
        Conv {
            weight: self.weight.to_kind(kind),
            bias: self.bias.as_ref().map(|bias| bias.to_kind(kind)),
            kernel: self.kernel,
        }
    }
}

impl nn::Module for Conv {
    fn forward(&self, xs: &Tensor) -> Tensor {
        if self.kernel != 1 {
            let padding = self.kernel / 2;
            return xs.conv2d(
                &self.weight,
                self.bias.as_ref(),
                [1, 1],
                [padding; 2],
                [1, 1],
                1,
            );
        }
        let size = xs.size();
        let (batch, c_in) = (size[0], size[1]);
        let c_out = self.weight.size()[0];
        let weight = self.weight.view([c_out, c_in]);
        let ys = match (&self.bias, batch) {
            // [C_in, H*W] -> [C_out, H*W], the bias added in the same call.
            (Some(bias), 1) => bias.view([c_out, 1]).addmm(&weight, &xs.view([c_in, -1])),
            (bias, _) => {
                let ys = weight.matmul(&xs.view([batch, c_in, -1]));
                match bias {
                    Some(bias) => ys + bias.view([c_out, 1]),
                    None => ys,
                }
            }
        };
        ys.view([batch, c_out, size[2], size[3]])
    }
}

/// An inference-mode BatchNorm as the fixed per-channel affine map it is: (scale, shift), each [C]. Folded
/// into the convolution before it, it costs no pass over memory and no kernel of its own.
pub(crate) fn batch_norm_affine(bn: &nn::BatchNorm, eps: f64) -> (Tensor, Tensor) {
    let gamma = bn.ws.as_ref().expect("affine BatchNorm");
    let beta = bn.bs.as_ref().expect("affine BatchNorm");
    let scale = gamma / (&bn.running_var + eps).sqrt();
    let shift = beta - &bn.running_mean * &scale;
    (scale, shift)
}

/// The weight and bias of a convolution (`weight` [out, in, k, k], `bias` [out]) whose outputs are then
/// scaled by `scale` and shifted by `shift` ([out] each).
pub(crate) fn scale_output_channels(
    weight: &Tensor,
    bias: Option<&Tensor>,
    scale: &Tensor,
    shift: &Tensor,
) -> (Tensor, Tensor) {
    let bias = match bias {
        Some(bias) => bias * scale + shift,
        None => shift.shallow_clone(),
    };
    (weight * scale.view([-1, 1, 1, 1]), bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn single_frames_and_rows_match_the_convolution() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layer = Conv::pointwise(vs.root() / "p", 5, 7, true);
        let xs = Tensor::randn([3, 5, 4, 6], (Kind::Float, Device::Cpu));
        let convolved = xs.conv2d(
            &layer.weight,
            layer.bias.as_ref(),
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        );
        let batched = xs.apply(&layer);
        assert_eq!(batched.size(), vec![3, 7, 4, 6]);
        let error = (&batched - &convolved).abs().max().double_value(&[]);
        assert!(error < 1e-5, "{error}");
        let rows = layer
            .apply_to_rows(&xs.permute([0, 2, 3, 1]).reshape([-1, 5]))
            .view([3, 4, 6, 7])
            .permute([0, 3, 1, 2]);
        let error = (rows - convolved).abs().max().double_value(&[]);
        assert!(error < 1e-5, "as rows: {error}");
        for i in 0..3 {
            let single = xs.narrow(0, i, 1).apply(&layer);
            let error = (single - batched.narrow(0, i, 1))
                .abs()
                .max()
                .double_value(&[]);
            assert!(error < 1e-5, "{error}");
        }
    }

    #[test]
    fn a_folded_batch_norm_computes_the_same() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        for (kernel, bias) in [(1, false), (1, true), (3, true)] {
            let conv = Conv::new(&root / "conv" / kernel, 4, 6, kernel, bias);
            let bn = nn::batch_norm2d(&root / "bn" / kernel, 6, Default::default());
            tch::no_grad(|| {
                for statistic in [&bn.running_mean, &bn.running_var, bn.ws.as_ref().unwrap()] {
                    statistic
                        .shallow_clone()
                        .copy_(&(statistic.rand_like() + 0.5));
                }
                let xs = Tensor::randn([2, 4, 5, 5], (Kind::Float, Device::Cpu));
                let plain = xs.apply(&conv).apply_t(&bn, false);
                let (scale, shift) = batch_norm_affine(&bn, 1e-5);
                let folded = xs.apply(&conv.scaled(&scale, &shift, Kind::Float));
                let error = (plain - folded).abs().max().double_value(&[]);
                assert!(error < 1e-5, "kernel {kernel}, bias {bias}: {error}");
            });
        }
    }
}

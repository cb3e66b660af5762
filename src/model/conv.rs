// SPDX-License-Identifier: MIT OR Apache-2.0
//! Stride-1 convolution with "same" padding, whose 1×1 single-frame case runs as a matrix product.
//!
//! libtorch's CPU convolution pays a large fixed cost per call on small single-image inputs (measured:
//! 24→30 channels at 64×64, 283 µs as a convolution against 38 µs as a matrix product, 2 threads). The
//! per-frame path of the mappers and flows is made of such calls, so for a batch of one the product is
//! used; batches (training) keep the convolution. Variables are a Conv2d's (`weight` [out, in, 1, 1],
//! `bias`), so checkpoints are unchanged.

use tch::{Tensor, nn};

#[derive(Debug)]
pub struct Conv {
    conv: nn::Conv2D,
    pointwise: bool,
}

impl Conv {
    /// A `kernel`×`kernel` convolution (odd kernel) keeping the spatial size.
    pub fn new(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, bias: bool) -> Self {
        let config = nn::ConvConfig {
            bias,
            padding: kernel / 2,
            ..Default::default()
        };
        Conv {
            conv: nn::conv2d(p, c_in, c_out, kernel, config),
            pointwise: kernel == 1,
        }
    }

    /// A 1×1 convolution.
    pub fn pointwise(p: nn::Path, c_in: i64, c_out: i64, bias: bool) -> Self {
        Self::new(p, c_in, c_out, 1, bias)
    }
}

impl nn::Module for Conv {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let size = xs.size();
        if !self.pointwise || size[0] != 1 {
            return xs.apply(&self.conv);
        }
        let (c_out, c_in) = (self.conv.ws.size()[0], size[1]);
        // [1, C_in, H, W] -> [C_in, H*W] -> [C_out, H*W] -> [1, C_out, H, W]
        let ys = self.conv.ws.view([c_out, c_in]).mm(&xs.view([c_in, -1]));
        let ys = match &self.conv.bs {
            Some(bias) => ys + bias.view([c_out, 1]),
            None => ys,
        };
        ys.view([1, c_out, size[2], size[3]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn single_frames_match_the_convolution() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layer = Conv::pointwise(vs.root() / "p", 5, 7, true);
        let xs = Tensor::randn([3, 5, 4, 6], (Kind::Float, Device::Cpu));
        let batched = xs.apply(&layer);
        assert_eq!(batched.size(), vec![3, 7, 4, 6]);
        for i in 0..3 {
            let single = xs.narrow(0, i, 1).apply(&layer);
            let error = (single - batched.narrow(0, i, 1))
                .abs()
                .max()
                .double_value(&[]);
            assert!(error < 1e-5, "{error}");
        }
    }
}

// SPDX-License-Identifier: MIT OR Apache-2.0
//! The layers EfficientNet-Lite is made of: convolutions with TensorFlow "SAME" padding, each with the
//! BatchNorm after it (eps 1e-3, as the TensorFlow weights were trained), folded together for inference.

use tch::{Kind, Tensor, nn};

use crate::model::conv::{batch_norm_affine, scale_output_channels};

const BN_EPS: f64 = 1e-3;

/// A convolution with TensorFlow "SAME" padding: output size ceil(n / stride), extra padding at the end.
#[derive(Debug)]
pub(super) struct SameConv {
    weight: Tensor,
    bias: Option<Tensor>,
    kernel: i64,
    stride: i64,
    groups: i64,
}

impl SameConv {
    /// Its weight is the variable `p.weight`; there is no bias (BatchNorm follows).
    pub(super) fn new(
        p: nn::Path,
        c_in: i64,
        c_out: i64,
        kernel: i64,
        stride: i64,
        groups: i64,
    ) -> Self {
        let config = nn::ConvConfig {
            groups,
            bias: false,
            ..Default::default()
        };
        SameConv {
            weight: nn::conv2d(p, c_in, c_out, kernel, config).ws,
            bias: None,
            kernel,
            stride,
            groups,
        }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        // Stride 1 with an odd kernel is symmetric: let the convolution pad, which avoids a copy.
        let (padded, padding) = if self.stride == 1 {
            (xs.shallow_clone(), self.kernel / 2)
        } else {
            let pad = |n: i64| {
                let out = (n + self.stride - 1) / self.stride;
                ((out - 1) * self.stride + self.kernel - n).max(0)
            };
            let (ph, pw) = (pad(xs.size()[2]), pad(xs.size()[3]));
            (
                xs.constant_pad_nd([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2]),
                0,
            )
        };
        padded.conv2d(
            &self.weight,
            self.bias.as_ref(),
            [self.stride; 2],
            [padding; 2],
            [1, 1],
            self.groups,
        )
    }
}

/// A convolution and the BatchNorm after it, or, folded, one convolution with a bias doing both.
#[derive(Debug)]
pub(super) struct ConvBn {
    conv: SameConv,
    bn: Option<nn::BatchNorm>,
}

impl ConvBn {
    pub(super) fn new(conv: SameConv, bn: nn::BatchNorm) -> Self {
        ConvBn { conv, bn: Some(bn) }
    }

    pub(super) fn forward(&self, xs: &Tensor) -> Tensor {
        let ys = self.conv.forward(xs);
        match &self.bn {
            Some(bn) => ys.apply_t(bn, false),
            None => ys,
        }
    }

    /// At inference the BatchNorm is folded into the convolution (see [`batch_norm_affine`]); the folded
    /// weights are then cast to `kind`.
    pub(super) fn folded(&self, kind: Kind) -> Self {
        let conv = &self.conv;
        let (weight, bias) = match &self.bn {
            Some(bn) => {
                let (scale, shift) = batch_norm_affine(bn, BN_EPS);
                let (weight, bias) =
                    scale_output_channels(&conv.weight, conv.bias.as_ref(), &scale, &shift);
                (weight, Some(bias))
            }
            // Already folded.
            None => (
                conv.weight.shallow_clone(),
                conv.bias.as_ref().map(Tensor::shallow_clone),
            ),
        };
        ConvBn {
            conv: SameConv {
                weight: weight.to_kind(kind),
                bias: bias.map(|bias| bias.to_kind(kind)),
                ..*conv
            },
            bn: None,
        }
    }
}

pub(super) fn batch_norm(p: nn::Path, channels: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        eps: BN_EPS,
        ..Default::default()
    };
    nn::batch_norm2d(p, channels, config)
}

/// In place: its input is always a fresh result, and a pass that allocates costs a page fault per 4 KiB.
pub(super) fn relu6(mut xs: Tensor) -> Tensor {
    let _ = xs.clamp_(0.0, 6.0);
    xs
}

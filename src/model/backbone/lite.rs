// SPDX-License-Identifier: MIT OR Apache-2.0
//! EfficientNet-Lite0 in tch, with the lukemelas/`efficientnet-lite-pytorch` variable names, TF "SAME"
//! padding and BatchNorm eps 1e-3 (see the module above).

use tch::{Kind, Tensor, nn};

use crate::error::{Error, Result};
use crate::model::conv::{batch_norm_affine, scale_output_channels};

/// Lite0 stages: (repeats, kernel, stride, expand ratio, input channels, output channels).
const LITE0_STAGES: [(usize, i64, i64, i64, i64, i64); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];
const STEM_CHANNELS: i64 = 32;
const HEAD_CHANNELS: i64 = 1280;
const IMAGENET_CLASSES: i64 = 1000;
const BN_EPS: f64 = 1e-3;

#[derive(Clone, Copy, Debug)]
struct BlockArgs {
    kernel: i64,
    stride: i64,
    expand: i64,
    c_in: i64,
    c_out: i64,
}

fn lite0_blocks() -> Vec<BlockArgs> {
    LITE0_STAGES
        .iter()
        .flat_map(|&(repeats, kernel, stride, expand, c_in, c_out)| {
            (0..repeats).map(move |i| BlockArgs {
                kernel,
                // Only the first block of a stage changes resolution and width.
                stride: if i == 0 { stride } else { 1 },
                expand,
                c_in: if i == 0 { c_in } else { c_out },
                c_out,
            })
        })
        .collect()
}

/// Output channels of each Lite0 block, indexed like `_blocks.N`.
pub fn lite0_block_channels() -> Vec<i64> {
    lite0_blocks().iter().map(|b| b.c_out).collect()
}

/// Output stride of each Lite0 block, indexed like `_blocks.N`.
pub fn lite0_block_strides() -> Vec<i64> {
    let mut stride = 2; // the stem
    lite0_blocks()
        .iter()
        .map(|b| {
            stride *= b.stride;
            stride
        })
        .collect()
}

/// A convolution with TensorFlow "SAME" padding: output size ceil(n / stride), extra padding at the end.
#[derive(Debug)]
struct SameConv {
    weight: Tensor,
    bias: Option<Tensor>,
    kernel: i64,
    stride: i64,
    groups: i64,
}

impl SameConv {
    /// Its weight is the variable `p.weight`; there is no bias (BatchNorm follows).
    fn new(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, stride: i64, groups: i64) -> Self {
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
struct ConvBn {
    conv: SameConv,
    bn: Option<nn::BatchNorm>,
}

impl ConvBn {
    fn new(conv: SameConv, bn: nn::BatchNorm) -> Self {
        ConvBn { conv, bn: Some(bn) }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        let ys = self.conv.forward(xs);
        match &self.bn {
            Some(bn) => ys.apply_t(bn, false),
            None => ys,
        }
    }

    /// At inference the BatchNorm is folded into the convolution (see [`batch_norm_affine`]); the folded
    /// weights are then cast to `kind`.
    fn folded(&self, kind: Kind) -> Self {
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

fn batch_norm(p: nn::Path, channels: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        eps: BN_EPS,
        ..Default::default()
    };
    nn::batch_norm2d(p, channels, config)
}

/// In place: its input is always a fresh result, and a pass that allocates costs a page fault per 4 KiB.
fn relu6(mut xs: Tensor) -> Tensor {
    let _ = xs.clamp_(0.0, 6.0);
    xs
}

/// Mobile inverted bottleneck without squeeze-excitation.
#[derive(Debug)]
struct MbConv {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl MbConv {
    fn new(p: nn::Path, args: BlockArgs) -> Self {
        let hidden = args.c_in * args.expand;
        let expand = (args.expand != 1).then(|| {
            ConvBn::new(
                SameConv::new(&p / "_expand_conv", args.c_in, hidden, 1, 1, 1),
                batch_norm(&p / "_bn0", hidden),
            )
        });
        MbConv {
            expand,
            depthwise: ConvBn::new(
                SameConv::new(
                    &p / "_depthwise_conv",
                    hidden,
                    hidden,
                    args.kernel,
                    args.stride,
                    hidden,
                ),
                batch_norm(&p / "_bn1", hidden),
            ),
            project: ConvBn::new(
                SameConv::new(&p / "_project_conv", hidden, args.c_out, 1, 1, 1),
                batch_norm(&p / "_bn2", args.c_out),
            ),
            residual: args.stride == 1 && args.c_in == args.c_out,
        }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        let hidden = match &self.expand {
            Some(expand) => relu6(expand.forward(xs)),
            None => xs.shallow_clone(),
        };
        let hidden = relu6(self.depthwise.forward(&hidden));
        let mut out = self.project.forward(&hidden);
        if self.residual {
            out += xs;
        }
        out
    }

    fn folded(&self, kind: Kind) -> Self {
        MbConv {
            expand: self.expand.as_ref().map(|expand| expand.folded(kind)),
            depthwise: self.depthwise.folded(kind),
            project: self.project.folded(kind),
            residual: self.residual,
        }
    }
}

/// The ImageNet classifier on top of the last block; only built to check that real weights are loaded.
#[derive(Debug)]
struct ClassifierHead {
    conv: ConvBn,
    fc: nn::Linear,
}

/// EfficientNet-Lite0 truncated after the last block a detector taps.
#[derive(Debug)]
pub struct EfficientNetLite {
    stem: ConvBn,
    blocks: Vec<MbConv>,
    taps: Vec<usize>,
    head: Option<ClassifierHead>,
}

impl EfficientNetLite {
    /// The feature extractor returning the outputs of blocks `taps` (ascending, indices into `_blocks`).
    pub fn features(p: &nn::Path, taps: &[usize]) -> Result<Self> {
        let all = lite0_blocks();
        let is_ascending = taps.windows(2).all(|w| w[0] < w[1]);
        match taps.last() {
            Some(&last) if last < all.len() && is_ascending => {}
            _ => {
                return Err(Error::Backbone(format!(
                    "blocks {taps:?} must be ascending indices below {}",
                    all.len()
                )));
            }
        }
        let depth = taps[taps.len() - 1] + 1;
        Ok(Self::build(p, &all[..depth], taps.to_vec(), false))
    }

    /// The whole network with its ImageNet classifier.
    pub fn classifier(p: &nn::Path) -> Self {
        let all = lite0_blocks();
        Self::build(p, &all, vec![], true)
    }

    fn build(p: &nn::Path, blocks: &[BlockArgs], taps: Vec<usize>, with_head: bool) -> Self {
        let head = with_head.then(|| {
            let last = blocks[blocks.len() - 1].c_out;
            ClassifierHead {
                conv: ConvBn::new(
                    SameConv::new(p / "_conv_head", last, HEAD_CHANNELS, 1, 1, 1),
                    batch_norm(p / "_bn1", HEAD_CHANNELS),
                ),
                fc: nn::linear(
                    p / "_fc",
                    HEAD_CHANNELS,
                    IMAGENET_CLASSES,
                    Default::default(),
                ),
            }
        });
        EfficientNetLite {
            stem: ConvBn::new(
                SameConv::new(p / "_conv_stem", 3, STEM_CHANNELS, 3, 2, 1),
                batch_norm(p / "_bn0", STEM_CHANNELS),
            ),
            blocks: blocks
                .iter()
                .enumerate()
                .map(|(i, &args)| MbConv::new(p / "_blocks" / i, args))
                .collect(),
            taps,
            head,
        }
    }

    fn stem(&self, xs: &Tensor) -> Tensor {
        relu6(self.stem.forward(xs))
    }

    /// The feature extractor for inference in `kind`, with every BatchNorm folded into its convolution
    /// (the classifier, used only to check weights, is left out). Call under `no_grad` once the weights
    /// are bound.
    pub fn folded(&self, kind: Kind) -> Self {
        EfficientNetLite {
            stem: self.stem.folded(kind),
            blocks: self.blocks.iter().map(|block| block.folded(kind)).collect(),
            taps: self.taps.clone(),
            head: None,
        }
    }

    /// Feature maps at the tapped blocks, for a normalised [B, 3, H, W] batch.
    pub fn forward_features(&self, xs: &Tensor) -> Vec<Tensor> {
        let mut features = Vec::with_capacity(self.taps.len());
        let mut x = self.stem(xs);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x);
            if self.taps.contains(&i) {
                features.push(x.shallow_clone());
            }
        }
        features
    }

    /// ImageNet logits [B, 1000]; `None` when built without the classifier.
    pub fn logits(&self, xs: &Tensor) -> Option<Tensor> {
        let head = self.head.as_ref()?;
        let x = self
            .blocks
            .iter()
            .fold(self.stem(xs), |x, block| block.forward(&x));
        let pooled = relu6(head.conv.forward(&x)).mean_dim([2, 3].as_slice(), false, Kind::Float);
        Some(pooled.apply(&head.fc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::backbone::DEFAULT_LITE0_TAPS;
    use tch::Device;

    #[test]
    fn lite0_has_sixteen_blocks_with_the_documented_strides() {
        let channels = lite0_block_channels();
        let strides = lite0_block_strides();
        assert_eq!(channels.len(), 16);
        assert_eq!((channels[2], strides[2]), (24, 4));
        assert_eq!((channels[4], strides[4]), (40, 8));
        assert_eq!((channels[7], strides[7]), (80, 16));
        assert_eq!((channels[10], strides[10]), (112, 16));
        assert_eq!((channels[15], strides[15]), (320, 32));
    }

    #[test]
    fn folding_batch_norms_keeps_the_features() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = EfficientNetLite::features(&vs.root(), &DEFAULT_LITE0_TAPS).unwrap();
        // Statistics and affine parameters away from their identity defaults, as trained weights are.
        tch::no_grad(|| {
            for (name, mut var) in vs.variables() {
                let noise = var.rand_like() * 0.5;
                let _ = if name.ends_with("running_var") {
                    var.g_add_(&noise)
                } else {
                    var.g_add_(&(noise - 0.25))
                };
            }
        });
        let xs = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        let (plain, folded) = tch::no_grad(|| {
            (
                net.forward_features(&xs),
                net.folded(Kind::Float).forward_features(&xs),
            )
        });
        for (a, b) in plain.iter().zip(&folded) {
            let scale = a.abs().max().double_value(&[]);
            let error = (a - b).abs().max().double_value(&[]);
            assert!(error <= 1e-4 * scale, "{error} of {scale}");
        }
    }

    #[test]
    fn tapped_features_have_the_expected_shapes() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = EfficientNetLite::features(&vs.root(), &DEFAULT_LITE0_TAPS).unwrap();
        let xs = Tensor::zeros([1, 3, 96, 96], (Kind::Float, Device::Cpu));
        let shapes: Vec<Vec<i64>> = net.forward_features(&xs).iter().map(|t| t.size()).collect();
        assert_eq!(
            shapes,
            vec![
                vec![1, 24, 24, 24],
                vec![1, 40, 12, 12],
                vec![1, 80, 6, 6],
                vec![1, 112, 6, 6]
            ]
        );
        assert!(EfficientNetLite::features(&vs.root(), &[4, 2]).is_err());
        assert!(EfficientNetLite::features(&vs.root(), &[16]).is_err());
    }
}

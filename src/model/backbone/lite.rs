// SPDX-License-Identifier: MIT OR Apache-2.0
//! EfficientNet-Lite0, Lite1 and Lite2 in tch, with the lukemelas/`efficientnet-lite-pytorch` variable
//! names, TF "SAME" padding and BatchNorm eps 1e-3 (see the module above).

use tch::{Kind, Tensor, nn};

use super::layers::{ConvBn, SameConv, batch_norm, relu6};
use crate::error::{Error, Result};

/// The EfficientNet-Lite networks built natively: Lite0, and Lite1 and Lite2, deeper and (Lite2) wider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lite {
    Lite0,
    Lite1,
    Lite2,
}

/// Per stage, for every variant: (kernel, stride, expand ratio).
const STAGE_SHAPES: [(i64, i64, i64); 7] = [
    (3, 1, 1),
    (3, 2, 6),
    (5, 2, 6),
    (3, 2, 6),
    (5, 1, 6),
    (5, 2, 6),
    (3, 1, 6),
];
const STEM_CHANNELS: i64 = 32;
const HEAD_CHANNELS: i64 = 1280;
const IMAGENET_CLASSES: i64 = 1000;

impl Lite {
    pub const ALL: [Lite; 3] = [Lite::Lite0, Lite::Lite1, Lite::Lite2];

    /// Its name in model files, on the command line and in the weights cache.
    pub const fn id(self) -> &'static str {
        match self {
            Lite::Lite0 => "efficientnet-lite0",
            Lite::Lite1 => "efficientnet-lite1",
            Lite::Lite2 => "efficientnet-lite2",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|lite| lite.id() == id)
    }

    /// Per stage: blocks and output channels. The stem and head widths are fixed in all Lite variants, and
    /// so are the first and last stages' single blocks.
    fn stages(self) -> [(usize, i64); 7] {
        const LITE0_CHANNELS: [i64; 7] = [16, 24, 40, 80, 112, 192, 320];
        let (repeats, channels) = match self {
            Lite::Lite0 => ([1, 2, 2, 3, 3, 4, 1], LITE0_CHANNELS),
            Lite::Lite1 => ([1, 3, 3, 4, 4, 5, 1], LITE0_CHANNELS),
            Lite::Lite2 => ([1, 3, 3, 4, 4, 5, 1], [16, 24, 48, 88, 120, 208, 352]),
        };
        std::array::from_fn(|stage| (repeats[stage], channels[stage]))
    }

    fn blocks(self) -> Vec<BlockArgs> {
        let mut c_in = STEM_CHANNELS;
        let mut blocks = Vec::new();
        for ((repeats, c_out), (kernel, stride, expand)) in
            self.stages().into_iter().zip(STAGE_SHAPES)
        {
            for i in 0..repeats {
                blocks.push(BlockArgs {
                    kernel,
                    // Only the first block of a stage changes resolution and width.
                    stride: if i == 0 { stride } else { 1 },
                    expand,
                    c_in,
                    c_out,
                });
                c_in = c_out;
            }
        }
        blocks
    }

    /// Output channels of each block, indexed like `_blocks.N`.
    pub fn block_channels(self) -> Vec<i64> {
        self.blocks().iter().map(|b| b.c_out).collect()
    }

    /// Output stride of each block, indexed like `_blocks.N`.
    pub fn block_strides(self) -> Vec<i64> {
        let mut stride = 2; // the stem
        self.blocks()
            .iter()
            .map(|b| {
                stride *= b.stride;
                stride
            })
            .collect()
    }

    /// The default source-domain taps: the last blocks of stages 1 to 4 (Lite0's blocks 2, 4, 7 and 10:
    /// 24 channels at stride 4, 40 at stride 8, 80 and 112 at stride 16), the EfficientNet counterpart of
    /// ResNet's layer1–layer3 and one more at stride 16. Measured on the development set, that fourth scale
    /// lifted the fused image AUROC from 0.931 to 0.944, above all from the backward residual, for about a
    /// third more training time (docs/model.md).
    pub fn default_taps(self) -> Vec<usize> {
        let stages = self.stages();
        (1..=4)
            .map(|last| {
                stages[..=last]
                    .iter()
                    .map(|&(repeats, _)| repeats)
                    .sum::<usize>()
                    - 1
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
struct BlockArgs {
    kernel: i64,
    stride: i64,
    expand: i64,
    c_in: i64,
    c_out: i64,
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

/// An EfficientNet-Lite truncated after the last block a detector taps.
#[derive(Debug)]
pub struct EfficientNetLite {
    stem: ConvBn,
    blocks: Vec<MbConv>,
    taps: Vec<usize>,
    head: Option<ClassifierHead>,
}

impl EfficientNetLite {
    /// The feature extractor returning the outputs of blocks `taps` (ascending, indices into `_blocks`).
    pub fn features(p: &nn::Path, lite: Lite, taps: &[usize]) -> Result<Self> {
        let all = lite.blocks();
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
    pub fn classifier(p: &nn::Path, lite: Lite) -> Self {
        let all = lite.blocks();
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
    use tch::Device;

    #[test]
    fn variants_have_the_documented_blocks_and_taps() {
        let lite0 = Lite::Lite0;
        let (channels, strides) = (lite0.block_channels(), lite0.block_strides());
        assert_eq!(channels.len(), 16);
        assert_eq!(lite0.default_taps(), [2, 4, 7, 10]);
        let tapped = |lite: Lite| -> Vec<(i64, i64)> {
            let (channels, strides) = (lite.block_channels(), lite.block_strides());
            lite.default_taps()
                .iter()
                .map(|&i| (channels[i], strides[i]))
                .collect()
        };
        assert_eq!(tapped(lite0), [(24, 4), (40, 8), (80, 16), (112, 16)]);
        assert_eq!((channels[15], strides[15]), (320, 32));
        assert_eq!(Lite::Lite1.block_channels().len(), 21);
        assert_eq!(Lite::Lite1.default_taps(), [3, 6, 10, 14]);
        assert_eq!(tapped(Lite::Lite1), tapped(lite0));
        assert_eq!(Lite::Lite2.default_taps(), [3, 6, 10, 14]);
        assert_eq!(tapped(Lite::Lite2), [(24, 4), (48, 8), (88, 16), (120, 16)]);
        for lite in Lite::ALL {
            assert_eq!(Lite::from_id(lite.id()), Some(lite));
        }
        assert_eq!(Lite::from_id("efficientnet-lite3"), None);
    }

    #[test]
    fn folding_batch_norms_keeps_the_features() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = EfficientNetLite::features(&vs.root(), Lite::Lite0, &Lite::Lite0.default_taps())
            .unwrap();
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
        let shapes = |lite: Lite| -> Vec<Vec<i64>> {
            let net =
                EfficientNetLite::features(&(vs.root() / lite.id()), lite, &lite.default_taps())
                    .unwrap();
            let xs = Tensor::zeros([1, 3, 96, 96], (Kind::Float, Device::Cpu));
            net.forward_features(&xs).iter().map(|t| t.size()).collect()
        };
        assert_eq!(
            shapes(Lite::Lite0),
            vec![
                vec![1, 24, 24, 24],
                vec![1, 40, 12, 12],
                vec![1, 80, 6, 6],
                vec![1, 112, 6, 6]
            ]
        );
        assert_eq!(shapes(Lite::Lite2)[1], vec![1, 48, 12, 12]);
        let root = vs.root();
        assert!(EfficientNetLite::features(&root, Lite::Lite0, &[4, 2]).is_err());
        assert!(EfficientNetLite::features(&root, Lite::Lite0, &[16]).is_err());
        assert!(EfficientNetLite::features(&root, Lite::Lite1, &[20]).is_ok());
    }
}

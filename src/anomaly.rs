// SPDX-License-Identifier: MIT OR Apache-2.0
//! From per-scale residuals to one anomaly map and one image score.

use serde::Serialize;
use tch::{Kind, Tensor};

use crate::config::ModelConfig;
use crate::model::{Domains, Residuals};

/// What an anomaly map is made of. NF-BMR scores with both mapping directions fused; the other modes read
/// the same trained model differently and exist to measure what each part contributes (the ablation of
/// `nfbmr eval --ablation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreMode {
    /// Weighted mean of both directions' residuals, each in its unit (its typical largest value on a
    /// training image), the backward one weighted by the model's `backward_weight`.
    Fused,
    /// The forward residual alone: M_f(S) against T.
    Forward,
    /// The backward residual alone: M_b(T) against S.
    Backward,
    /// The flow's likelihood alone, as FastFlow scores: 1 − exp(−½ mean_c T²).
    FlowLikelihood,
}

impl ScoreMode {
    pub const ALL: [ScoreMode; 4] = [
        ScoreMode::Fused,
        ScoreMode::Forward,
        ScoreMode::Backward,
        ScoreMode::FlowLikelihood,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ScoreMode::Fused => "fused (NF-BMR)",
            ScoreMode::Forward => "forward only",
            ScoreMode::Backward => "backward only",
            ScoreMode::FlowLikelihood => "flow likelihood only",
        }
    }
}

/// Anomaly maps [B, 1, S, S] of one mode, S the model's image size: the per-scale maps upsampled,
/// averaged over the scales and optionally blurred.
pub(crate) fn maps(
    mode: ScoreMode,
    domains: &[Domains],
    residuals: &[Residuals],
    config: &ModelConfig,
    blur: Option<&GaussianBlur>,
) -> Tensor {
    let size = config.image_size;
    let upsampled: Vec<Tensor> = scale_maps(mode, domains, residuals, config)
        .iter()
        .map(|map| map.upsample_bilinear2d([size, size], false, None, None))
        .collect();
    let fused = Tensor::stack(&upsampled, 0).mean_dim([0].as_slice(), false, Kind::Float);
    match blur {
        Some(blur) => blur.apply(&fused),
        None => fused,
    }
}

/// Per-scale anomaly maps [B, 1, h, w] of one mode.
fn scale_maps(
    mode: ScoreMode,
    domains: &[Domains],
    residuals: &[Residuals],
    config: &ModelConfig,
) -> Vec<Tensor> {
    let backward_weight = config.backward_weight;
    residuals
        .iter()
        .zip(domains)
        .zip(&config.scales)
        .map(|((r, d), scale)| {
            let forward = || &r.forward / scale.forward_residual_unit;
            let backward = || &r.backward / scale.backward_residual_unit;
            match mode {
                ScoreMode::Fused => {
                    (forward() + backward() * backward_weight) / (1.0 + backward_weight)
                }
                ScoreMode::Forward => forward(),
                ScoreMode::Backward => backward(),
                ScoreMode::FlowLikelihood => {
                    let log_likelihood =
                        d.target
                            .square()
                            .mean_dim([1].as_slice(), true, Kind::Float)
                            * -0.5;
                    1.0 - log_likelihood.exp()
                }
            }
        })
        .collect()
}

/// Gaussian blur of square maps with radius 4σ and replicated borders, as two products with a banded
/// matrix: on a 256×256 map five times faster than the equivalent separable convolution on the CPU.
#[derive(Debug)]
pub struct GaussianBlur {
    /// [size, size]; row i holds the weights of output i over the input positions.
    matrix: Tensor,
}

impl GaussianBlur {
    /// `None` for sigma 0 (no blur).
    pub fn new(size: i64, sigma: f64, device: tch::Device) -> Option<Self> {
        if sigma <= 0.0 {
            return None;
        }
        let radius = (4.0 * sigma).ceil() as i64;
        let taps: Vec<f64> = (-radius..=radius)
            .map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp())
            .collect();
        let total: f64 = taps.iter().sum();
        let mut matrix = vec![0f32; (size * size) as usize];
        for i in 0..size {
            for (d, weight) in (-radius..=radius).zip(&taps) {
                // Taps beyond an edge fall on the edge pixel: replicate padding.
                let j = (i + d).clamp(0, size - 1);
                matrix[(i * size + j) as usize] += (weight / total) as f32;
            }
        }
        let matrix = Tensor::from_slice(&matrix)
            .view([size, size])
            .to_device(device);
        Some(GaussianBlur { matrix })
    }

    /// Blurs [B, 1, size, size] maps.
    pub fn apply(&self, maps: &Tensor) -> Tensor {
        self.matrix.matmul(maps).matmul(&self.matrix.tr())
    }
}

/// An anomaly map on the CPU, row-major, in raw fused units (divide by the threshold to normalise).
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyMap {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

impl AnomalyMap {
    /// A `width`×`height` map of row-major `values`.
    pub fn new(width: usize, height: usize, values: Vec<f32>) -> Self {
        assert_eq!(values.len(), width * height, "a {width}x{height} map");
        AnomalyMap {
            width,
            height,
            values,
        }
    }

    /// Copies a [1, 1, H, W] or [H, W] map to the CPU.
    pub fn from_tensor(map: &Tensor) -> crate::Result<Self> {
        let size = map.size();
        let (height, width) = (size[size.len() - 2] as usize, size[size.len() - 1] as usize);
        let values = Vec::<f32>::try_from(
            map.to_device(tch::Device::Cpu)
                .to_kind(Kind::Float)
                .contiguous()
                .view([-1]),
        )?;
        Ok(AnomalyMap::new(width, height, values))
    }

    pub fn max(&self) -> f32 {
        self.values
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// The map reduced to at most `side`×`side` by taking the maximum of each block, so that no peak is lost.
    pub fn max_pooled(&self, side: usize) -> AnomalyMap {
        let factor_x = self.width.div_ceil(side).max(1);
        let factor_y = self.height.div_ceil(side).max(1);
        let (width, height) = (
            self.width.div_ceil(factor_x),
            self.height.div_ceil(factor_y),
        );
        let mut values = vec![f32::NEG_INFINITY; width * height];
        for y in 0..self.height {
            for x in 0..self.width {
                let cell = &mut values[(y / factor_y) * width + x / factor_x];
                *cell = cell.max(self.values[y * self.width + x]);
            }
        }
        AnomalyMap::new(width, height, values)
    }

    /// The map resampled bilinearly to another size (pixel centres aligned, like the model's upsampling).
    pub fn resized(&self, width: usize, height: usize) -> AnomalyMap {
        let mut values = Vec::with_capacity(width * height);
        self.for_each_resized_row(width, height, 0..height, |_, row| {
            values.extend_from_slice(row)
        });
        AnomalyMap::new(width, height, values)
    }

    /// Visits rows `rows` of [`AnomalyMap::resized`] in order without holding the whole resized map, so
    /// that drawing over a large frame costs a few rows of memory. Each map row is widened once and
    /// every frame row between two of them mixed from the widened pair: a frame has several rows per map
    /// row, and mixing two rows is contiguous work where widening is not.
    pub fn for_each_resized_row(
        &self,
        width: usize,
        height: usize,
        rows: std::ops::Range<usize>,
        mut visit: impl FnMut(usize, &[f32]),
    ) {
        let columns = bilinear_taps(width, self.width);
        let widen = |y: usize, wide: &mut [f32]| {
            let source = &self.values[y * self.width..][..self.width];
            for (value, &(x0, x1, fx)) in wide.iter_mut().zip(&columns) {
                *value = source[x0] * (1.0 - fx) + source[x1] * fx;
            }
        };
        // The map rows the last frame row lay between, widened.
        let mut between: Option<(usize, usize)> = None;
        let (mut upper, mut lower) = (vec![0.0; width], vec![0.0; width]);
        let mut row = vec![0.0; width];
        let taps = bilinear_taps(height, self.height);
        for (y, &(y0, y1, fy)) in taps.iter().enumerate().take(rows.end).skip(rows.start) {
            match between {
                Some(pair) if pair == (y0, y1) => {}
                Some((_, below)) if below == y0 => {
                    std::mem::swap(&mut upper, &mut lower);
                    widen(y1, &mut lower);
                }
                _ => {
                    widen(y0, &mut upper);
                    widen(y1, &mut lower);
                }
            }
            between = Some((y0, y1));
            for ((value, &top), &bottom) in row.iter_mut().zip(&upper).zip(&lower) {
                *value = top * (1.0 - fy) + bottom * fy;
            }
            visit(y, &row);
        }
    }
}

/// For each of `len` output positions, the two source positions of `source_len` it lies between and the
/// weight of the second, with pixel centres aligned and the edges clamped.
fn bilinear_taps(len: usize, source_len: usize) -> Vec<(usize, usize, f32)> {
    (0..len)
        .map(|i| {
            let at = ((i as f32 + 0.5) * source_len as f32 / len as f32 - 0.5)
                .clamp(0.0, (source_len - 1) as f32);
            let first = at.floor() as usize;
            (first, (first + 1).min(source_len - 1), at - first as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn blur_keeps_mass_spreads_a_peak_and_matches_a_padded_convolution() {
        let map = Tensor::zeros([1, 1, 33, 33], (Kind::Float, Device::Cpu));
        let _ = map.get(0).get(0).get(16).get(16).fill_(1.0);
        let blur = GaussianBlur::new(33, 2.0, Device::Cpu).unwrap();
        let blurred = blur.apply(&map);
        assert_eq!(blurred.size(), vec![1, 1, 33, 33]);
        assert!((blurred.sum(Kind::Float).double_value(&[]) - 1.0).abs() < 1e-4);
        let peak = blurred.double_value(&[0, 0, 16, 16]);
        assert!(
            (peak - 1.0 / (2.0 * std::f64::consts::PI * 4.0)).abs() < 1e-3,
            "{peak}"
        );

        // The same as a replicate-padded separable convolution, borders included.
        let random = Tensor::rand([2, 1, 33, 33], (Kind::Float, Device::Cpu));
        let taps = Tensor::arange_start(-8, 9, (Kind::Float, Device::Cpu));
        let kernel = (taps.square() / -8.0).exp();
        let kernel = &kernel / kernel.sum(Kind::Float);
        let row = |t: Tensor, shape: [i64; 4]| {
            t.conv2d(
                &kernel.view(shape),
                None::<Tensor>,
                [1, 1],
                [0, 0],
                [1, 1],
                1,
            )
        };
        let padded = random.pad([8, 8, 8, 8], "replicate", None);
        let convolved = row(row(padded, [1, 1, 1, 17]), [1, 1, 17, 1]);
        let error = (blur.apply(&random) - convolved)
            .abs()
            .max()
            .double_value(&[]);
        assert!(error < 1e-5, "{error}");
        assert!(GaussianBlur::new(33, 0.0, Device::Cpu).is_none());
    }

    #[test]
    fn resizing_keeps_constant_maps_and_interpolates() {
        let map = AnomalyMap::new(2, 1, vec![0.0, 1.0]);
        let wide = map.resized(4, 2);
        assert_eq!(
            wide.values,
            vec![0.0, 0.25, 0.75, 1.0, 0.0, 0.25, 0.75, 1.0]
        );
        assert_eq!(wide.max(), 1.0);
        let pooled = wide.max_pooled(2);
        assert_eq!((pooled.width, pooled.height), (2, 2));
        assert_eq!(pooled.values, vec![0.25, 1.0, 0.25, 1.0]);
        assert_eq!(wide.max_pooled(1).values, vec![1.0]);
    }
}

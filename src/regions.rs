// SPDX-License-Identifier: MIT OR Apache-2.0
//! Connected components: defect regions of an anomaly map, and the ground-truth regions PRO averages over.
//!
//! One labeller serves both. imageproc has one too, but it would bring rand and a font renderer into
//! everything that links the detector, the GStreamer plugin included.

use crate::anomaly::AnomalyMap;

/// Labels the 8-connected components of a mask in scan order: 0 for background, 1.. for components.
/// Returns the labels and the number of components.
pub(crate) fn label_components(mask: &[bool], width: usize, height: usize) -> (Vec<u32>, u32) {
    let mut labels = vec![0u32; mask.len()];
    let mut count = 0;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        count += 1;
        labels[start] = count;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let j = ny * width + nx;
                    if mask[j] && labels[j] == 0 {
                        labels[j] = count;
                        stack.push(j);
                    }
                }
            }
        }
    }
    (labels, count)
}

/// A connected set of map pixels at or above a threshold (8-connectivity), in map coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
    /// Pixels in the region.
    pub area: usize,
    /// Highest map value in the region.
    pub peak: f32,
}

impl AnomalyMap {
    /// Connected regions at or above `threshold` with at least `min_area` pixels, highest peak first.
    pub fn regions(&self, threshold: f32, min_area: usize) -> Vec<Region> {
        let mask: Vec<bool> = self.values.iter().map(|&v| v >= threshold).collect();
        let (labels, count) = label_components(&mask, self.width, self.height);
        let mut regions: Vec<Region> = (0..count)
            .map(|_| Region {
                x: usize::MAX,
                y: usize::MAX,
                width: 0,
                height: 0,
                area: 0,
                peak: f32::NEG_INFINITY,
            })
            .collect();
        // Grow each region's box as (x0, y0)–(x1, y1) in its width/height fields, then turn them into sizes.
        for (i, &label) in labels.iter().enumerate().filter(|(_, l)| **l > 0) {
            let (x, y) = (i % self.width, i / self.width);
            let region = &mut regions[label as usize - 1];
            region.x = region.x.min(x);
            region.y = region.y.min(y);
            region.width = region.width.max(x);
            region.height = region.height.max(y);
            region.area += 1;
            region.peak = region.peak.max(self.values[i]);
        }
        let mut regions: Vec<Region> = regions
            .into_iter()
            .filter(|r| r.area >= min_area)
            .map(|r| Region {
                width: r.width - r.x + 1,
                height: r.height - r.y + 1,
                ..r
            })
            .collect();
        regions.sort_by(|a, b| b.peak.total_cmp(&a.peak));
        regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_connected_components_above_the_threshold() {
        #[rustfmt::skip]
        let values = vec![
            0.0, 5.0, 0.0, 0.0, 0.0,
            0.0, 2.0, 0.0, 0.0, 3.0,
            0.0, 0.0, 1.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let map = AnomalyMap::new(5, 4, values);
        let region = |x, y, width, height, area, peak| Region {
            x,
            y,
            width,
            height,
            area,
            peak,
        };
        // The diagonal touch joins (1,0), (1,1) and (2,2); (4,1) stands alone.
        assert_eq!(
            map.regions(1.0, 1),
            [region(1, 0, 2, 3, 3, 5.0), region(4, 1, 1, 1, 1, 3.0)]
        );
        assert_eq!(
            map.regions(1.0, 2).len(),
            1,
            "min_area drops the single pixel"
        );
        assert_eq!(map.regions(5.0, 1)[0].area, 1, "the threshold is inclusive");
        assert!(map.regions(6.0, 1).is_empty());
    }

    #[test]
    fn components_are_labelled_in_scan_order_with_diagonals_joined() {
        let (labels, count) = label_components(&[true, false, false, true], 2, 2);
        assert_eq!((labels, count), (vec![1, 0, 0, 1], 1));
        let (labels, count) = label_components(&[false, true, false, true, false, true], 6, 1);
        assert_eq!((labels, count), (vec![0, 1, 0, 2, 0, 3], 3));
    }
}

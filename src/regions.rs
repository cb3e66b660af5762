// SPDX-License-Identifier: MIT OR Apache-2.0
//! Connected components: defect regions of an anomaly map, and the ground-truth regions PRO averages over.
//!
//! One labeller serves both. imageproc has one too, but it would bring rand and a font renderer into
//! everything that links the detector, the GStreamer plugin included.

use std::ops::Range;

use crate::anomaly::AnomalyMap;

/// The 8-connected components of a mask, as the runs of set pixels of each row. Working on runs rather
/// than pixels makes labelling a map of one large region (a frame unlike anything trained) cost about as
/// little as labelling an empty one.
pub(crate) struct Components {
    /// Row and columns of each run, in scan order.
    pub runs: Vec<(usize, Range<usize>)>,
    /// Component of each run, from 0, in the scan order of the components' first pixels.
    pub of_run: Vec<u32>,
    pub count: u32,
}

impl Components {
    /// The components of `mask`, rows of `width` pixels one after the other.
    pub(crate) fn of(mask: &[bool], width: usize) -> Self {
        let mut runs: Vec<(usize, Range<usize>)> = Vec::new();
        let mut parents: Vec<usize> = Vec::new();
        let mut row_above = 0..0;
        for (y, row) in mask.chunks_exact(width).enumerate() {
            let first_of_row = runs.len();
            // The first run above that may touch this row's next run: those before it end too far left.
            let mut above = row_above.start;
            let mut x = 0;
            while let Some(offset) = row[x..].iter().position(|&set| set) {
                let start = x + offset;
                let end = row[start..]
                    .iter()
                    .position(|&set| !set)
                    .map_or(width, |n| start + n);
                let this = runs.len();
                parents.push(this);
                // Runs above touch this one where their columns, widened by one each side, overlap.
                while above < row_above.end && runs[above].1.end < start {
                    above += 1;
                }
                let touching = runs[above..row_above.end]
                    .iter()
                    .take_while(|(_, columns)| columns.start <= end)
                    .count();
                for run in above..above + touching {
                    join(&mut parents, run, this);
                }
                runs.push((y, start..end));
                x = end;
            }
            row_above = first_of_row..runs.len();
        }
        let mut of_root = vec![u32::MAX; runs.len()];
        let mut count = 0;
        let of_run = (0..runs.len())
            .map(|run| {
                let label = &mut of_root[root(&mut parents, run)];
                if *label == u32::MAX {
                    *label = count;
                    count += 1;
                }
                *label
            })
            .collect();
        Components {
            runs,
            of_run,
            count,
        }
    }

    /// Per pixel: 0 for background, 1.. for the components.
    pub(crate) fn labels(&self, width: usize, height: usize) -> Vec<u32> {
        let mut labels = vec![0u32; width * height];
        for ((y, columns), &component) in self.runs.iter().zip(&self.of_run) {
            labels[y * width..][columns.clone()].fill(component + 1);
        }
        labels
    }
}

/// The root of `node`'s tree, halving the path on the way.
fn root(parents: &mut [usize], mut node: usize) -> usize {
    while parents[node] != node {
        parents[node] = parents[parents[node]];
        node = parents[node];
    }
    node
}

/// Joins the trees of `a` and `b` under the earlier root.
fn join(parents: &mut [usize], a: usize, b: usize) {
    let (a, b) = (root(parents, a), root(parents, b));
    parents[a.max(b)] = a.min(b);
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
        let components = Components::of(&mask, self.width);
        let mut regions: Vec<Region> = (0..components.count)
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
        for ((y, columns), &component) in components.runs.iter().zip(&components.of_run) {
            let region = &mut regions[component as usize];
            region.x = region.x.min(columns.start);
            region.y = region.y.min(*y);
            region.width = region.width.max(columns.end - 1);
            region.height = region.height.max(*y);
            region.area += columns.len();
            let values = &self.values[y * self.width..][columns.clone()];
            region.peak = values.iter().copied().fold(region.peak, f32::max);
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
        let labels = |mask: &[bool], width: usize| {
            let components = Components::of(mask, width);
            (
                components.labels(width, mask.len() / width),
                components.count,
            )
        };
        assert_eq!(
            labels(&[true, false, false, true], 2),
            (vec![1, 0, 0, 1], 1)
        );
        assert_eq!(
            labels(&[false, true, false, true, false, true], 6),
            (vec![0, 1, 0, 2, 0, 3], 3)
        );
        // A U: its arms are separate runs until the bottom row joins them; the dot starts a later one.
        #[rustfmt::skip]
        let mask = [
            1, 0, 1, 0, 0,
            1, 0, 1, 0, 1,
            1, 1, 1, 0, 0,
        ].map(|set| set == 1);
        assert_eq!(
            labels(&mask, 5),
            (vec![1, 0, 1, 0, 0, 1, 0, 1, 0, 2, 1, 1, 1, 0, 0], 2)
        );
    }

    #[test]
    fn runs_label_every_mask_as_a_flood_fill_does() {
        // Pseudo-random masks of several densities against an 8-connected flood fill.
        let (width, height) = (23, 17);
        for (seed, density) in [(1u64, 20), (2, 45), (3, 60), (4, 85)] {
            let mut state = seed;
            let mask: Vec<bool> = (0..width * height)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 33) % 100 < density
                })
                .collect();
            let components = Components::of(&mask, width);
            assert_eq!(
                (components.labels(width, height), components.count),
                flood_fill(&mask, width, height),
                "density {density}%"
            );
        }
    }

    /// Labels in scan order by flooding from each unlabelled set pixel.
    fn flood_fill(mask: &[bool], width: usize, height: usize) -> (Vec<u32>, u32) {
        let mut labels = vec![0u32; mask.len()];
        let mut count = 0;
        for start in 0..mask.len() {
            if !mask[start] || labels[start] != 0 {
                continue;
            }
            count += 1;
            labels[start] = count;
            let mut stack = vec![start];
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
}

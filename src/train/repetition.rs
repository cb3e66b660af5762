// SPDX-License-Identifier: MIT OR Apache-2.0
//! Whether the held-out images show surface the model trained on. A threshold set on views of trained
//! surface is optimistic: a model scores surface it has learned lower than new parts of the same material
//! (docs/quality.md, *Real photographs*). Such views give themselves away in the backbone's finest
//! features, where a position of a held-out image finds a near-exact twin among the training images'
//! positions; independent parts never do.

use tch::{Kind, Tensor};

/// Feature distance, relative to the position's feature norm, below which a training position is a twin.
const TWIN_DISTANCE: f64 = 0.05;
/// A position counts only when no other position of its own frame, beyond the 3×3 around it, lies within
/// this relative distance: on flat or periodic surface every part's features match, repeated or not.
const DISTINCT_DISTANCE: f64 = 0.1;
/// Positions sampled per held-out image, on a regular grid.
const QUERIES: i64 = 256;
/// Training positions compared at once (bounds the distance matrix's memory).
const KEY_CHUNK: i64 = 32_768;

/// Share of sampled positions of the held-out images (finest-scale features [1, C, h, w] each) that have a
/// twin in the training images' features [N, C, h, w]; `None` without held-out images.
pub(super) fn held_out_twins(training: &Tensor, held_out: &[Tensor]) -> Option<f64> {
    if held_out.is_empty() {
        return None;
    }
    let channels = training.size()[1];
    let keys = training.permute([0, 2, 3, 1]).reshape([-1, channels]);
    let (mut twins, mut sampled) = (0i64, 0i64);
    tch::no_grad(|| {
        for features in held_out {
            let (count, total) = twins_in(&features.get(0), &keys);
            twins += count;
            sampled += total;
        }
    });
    Some(twins as f64 / sampled as f64)
}

/// (twins, sampled positions) of one image's features [C, h, w] against `keys` [M, C].
fn twins_in(features: &Tensor, keys: &Tensor) -> (i64, i64) {
    let (channels, height, width) = features.size3().expect("[C, h, w] features");
    let device = features.device();
    let step = (((height * width) as f64 / QUERIES as f64).sqrt().ceil() as i64).max(1);
    let rows = Tensor::arange_start_step(0, height, step, (Kind::Int64, device));
    let columns = Tensor::arange_start_step(0, width, step, (Kind::Int64, device));
    let (query_y, query_x) = (
        rows.unsqueeze(1)
            .expand([rows.size()[0], columns.size()[0]], false)
            .flatten(0, 1),
        columns
            .unsqueeze(0)
            .expand([rows.size()[0], columns.size()[0]], false)
            .flatten(0, 1),
    );
    let positions = features.reshape([channels, -1]).transpose(0, 1);
    let queries = positions.index_select(0, &(&query_y * width + &query_x));
    let norms = queries
        .norm_scalaropt_dim(2, [1].as_slice(), false)
        .clamp_min(1e-6);

    let total = keys.size()[0];
    let nearest_key = (0..total)
        .step_by(KEY_CHUNK as usize)
        .map(|start| {
            let chunk = keys.narrow(0, start, KEY_CHUNK.min(total - start));
            Tensor::cdist(&queries, &chunk, 2.0, None).amin([1].as_slice(), false)
        })
        .reduce(|a, b| a.minimum(&b))
        .expect("training features");

    // Distance to the nearest position of the same frame outside the 3×3 around the query.
    let all = Tensor::arange(height * width, (Kind::Int64, device));
    let (all_y, all_x) = (all.divide_scalar_mode(width, "floor"), all.remainder(width));
    let near = (query_y.unsqueeze(1) - all_y.unsqueeze(0))
        .abs()
        .le(1)
        .logical_and(&(query_x.unsqueeze(1) - all_x.unsqueeze(0)).abs().le(1));
    let nearest_other = Tensor::cdist(&queries, &positions, 2.0, None)
        .masked_fill(&near, f64::INFINITY)
        .amin([1].as_slice(), false);

    let twin = (nearest_key / &norms).lt(TWIN_DISTANCE);
    let distinct = (nearest_other / &norms).gt(DISTINCT_DISTANCE);
    let count = twin
        .logical_and(&distinct)
        .sum(Kind::Int64)
        .int64_value(&[]);
    (count, queries.size()[0])
}

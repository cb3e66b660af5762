// SPDX-License-Identifier: MIT OR Apache-2.0
//! Two results files (the element's JSON lines) compared frame by frame: does a replay reproduce what the
//! line saw, and where and by how much does it not.
//!
//! Frames are matched in the order they were scored, not by timestamp: a replay's timestamps start where
//! the file does, a live run's where the clock was. Lines that are not a scored frame (events, outages:
//! anything with an `event` field or without a `score`) are skipped.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// One scored frame of a results file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScoredFrame {
    pub frame: u64,
    /// Nanoseconds; absent when the buffer had none.
    pub pts: Option<u64>,
    pub score: f64,
    pub raw_score: f64,
    pub is_anomaly: bool,
}

/// The scored frames of a JSON-lines results file, in order.
pub fn read_results(path: &Path) -> Result<Vec<ScoredFrame>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading results {}", path.display()), e))?;
    let mut frames = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad =
            |problem: String| Error::Data(format!("{}:{}: {problem}", path.display(), number + 1));
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        if value.get("event").is_some() || value.get("score").is_none() {
            continue;
        }
        let frame: ScoredFrame =
            serde_json::from_value(value).map_err(|e| bad(format!("not a scored frame: {e}")))?;
        frames.push(frame);
    }
    Ok(frames)
}

/// Where two results differ most.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// Position in scoring order (0 = the first scored frame of each file).
    pub index: usize,
    pub first: ScoredFrame,
    pub second: ScoredFrame,
}

impl Difference {
    /// |score difference|, in normalised units (1.0 = the threshold).
    pub fn score(&self) -> f64 {
        (self.first.score - self.second.score).abs()
    }
}

/// Two results files side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Scored frames in each file.
    pub frames: (usize, usize),
    /// The pair of frames whose scores differ most; `None` when no frame is in both.
    pub largest: Option<Difference>,
    /// Mean |score difference| over the frames in both.
    pub mean_difference: f64,
    /// Frames in both whose verdicts differ.
    pub verdicts_differing: usize,
}

impl Comparison {
    pub fn of(first: &[ScoredFrame], second: &[ScoredFrame]) -> Self {
        let mut largest: Option<Difference> = None;
        let (mut total, mut verdicts_differing) = (0.0, 0);
        for (index, (a, b)) in first.iter().zip(second).enumerate() {
            let difference = (a.score - b.score).abs();
            total += difference;
            verdicts_differing += usize::from(a.is_anomaly != b.is_anomaly);
            if largest.as_ref().is_none_or(|l| difference > l.score()) {
                largest = Some(Difference {
                    index,
                    first: a.clone(),
                    second: b.clone(),
                });
            }
        }
        let compared = first.len().min(second.len());
        Comparison {
            frames: (first.len(), second.len()),
            largest,
            mean_difference: if compared == 0 {
                0.0
            } else {
                total / compared as f64
            },
            verdicts_differing,
        }
    }

    /// Both files scored the same frames, and every score agrees within `tolerance`.
    pub fn agrees_within(&self, tolerance: f64) -> bool {
        self.frames.0 == self.frames.1
            && self.largest.as_ref().is_none_or(|l| l.score() <= tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(frame: u64, score: f64) -> ScoredFrame {
        ScoredFrame {
            frame,
            pts: Some(frame * 40_000_000),
            score,
            raw_score: score * 2.0,
            is_anomaly: score >= 1.0,
        }
    }

    #[test]
    fn the_largest_difference_is_found_and_judged_against_the_tolerance() {
        let live = [frame(0, 0.5), frame(1, 1.2), frame(2, 0.3)];
        let replay = [frame(0, 0.5), frame(1, 0.9), frame(2, 0.35)];
        let comparison = Comparison::of(&live, &replay);
        let largest = comparison.largest.clone().unwrap();
        assert_eq!((largest.index, largest.first.frame), (1, 1));
        assert!((largest.score() - 0.3).abs() < 1e-12);
        assert_eq!(comparison.verdicts_differing, 1);
        assert!((comparison.mean_difference - 0.35 / 3.0).abs() < 1e-12);
        assert!(!comparison.agrees_within(0.0) && !comparison.agrees_within(0.29));
        assert!(comparison.agrees_within(0.3));
        assert!(Comparison::of(&live, &live).agrees_within(0.0));
        // A frame missing from one side never agrees.
        assert!(!Comparison::of(&live, &live[..2]).agrees_within(1.0));
    }

    #[test]
    fn results_files_keep_scored_frames_and_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let lines = [
            r#"{"frame":0,"pts":0,"score":0.5,"raw-score":1.0,"is-anomaly":false,"regions":[]}"#,
            r#"{"event":"start","id":1,"pts":0}"#,
            "",
            r#"{"frame":1,"pts":null,"score":1.5,"raw-score":3.0,"is-anomaly":true,"regions":[]}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let frames = read_results(&path).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(
            (frames[1].frame, frames[1].pts, frames[1].is_anomaly),
            (1, None, true)
        );
        std::fs::write(&path, "{\"frame\":0,\"score\":\"high\"}\n").unwrap();
        let err = read_results(&path).unwrap_err().to_string();
        assert!(
            err.contains("results.jsonl:1") && err.contains("not a scored frame"),
            "{err}"
        );
    }
}

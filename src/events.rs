// SPDX-License-Identifier: MIT OR Apache-2.0
//! Defect events from frame verdicts. Verdicts flicker on a defect's edge; an operator or a PLC wants one
//! event per defect: it starts when `start_frames` of the last `window` scored frames are defects, and ends
//! when `end_frames` scored frames in a row are good.

use std::collections::VecDeque;

use serde::Serialize;

use crate::verdict::{FrameRegion, Verdict};

/// When events start and end, in scored frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRules {
    /// Defect frames among the last `window` that start an event (K).
    pub start_frames: u32,
    /// Frames considered for a start (N); at least `start_frames`.
    pub window: u32,
    /// Good frames in a row that end an event (M).
    pub end_frames: u32,
}

impl Default for EventRules {
    fn default() -> Self {
        EventRules {
            start_frames: 3,
            window: 5,
            end_frames: 5,
        }
    }
}

/// Where a scored frame sits in the stream, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FrameTime {
    pub pts: Option<u64>,
    pub running_time: Option<u64>,
}

/// A defect event as it starts or ends.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Event {
    /// `start` or `end`.
    pub event: &'static str,
    /// Increasing from 1 for each source of events.
    pub id: u64,
    /// The first defect frame of the event on `start`; the first good frame after it on `end`.
    #[serde(flatten)]
    pub at: FrameTime,
    /// Highest score so far (normalised: 1.0 = threshold).
    pub peak_score: f64,
    /// When the peak was scored; on `end` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_pts: Option<u64>,
    /// The largest defect region seen so far, in frame pixels.
    pub region: Option<FrameRegion>,
}

/// An event that has started and not ended.
#[derive(Clone, Debug)]
struct Open {
    id: u64,
    peak_score: f64,
    peak_pts: Option<u64>,
    region: Option<FrameRegion>,
    /// Good frames since the last defect frame, and when the first of them was scored.
    good_in_a_row: u32,
    first_good: FrameTime,
}

impl Open {
    fn note(&mut self, verdict: &Verdict, at: FrameTime) {
        if verdict.score > self.peak_score {
            self.peak_score = verdict.score;
            self.peak_pts = at.pts;
        }
        let area = |r: &FrameRegion| u64::from(r.width) * u64::from(r.height);
        let largest = verdict.regions.iter().max_by_key(|r| area(r));
        if let Some(largest) = largest
            && self.region.as_ref().is_none_or(|r| area(largest) > area(r))
        {
            self.region = Some(largest.clone());
        }
    }

    fn event(&self, event: &'static str, at: FrameTime) -> Event {
        Event {
            event,
            id: self.id,
            at,
            peak_score: self.peak_score,
            peak_pts: (event == "end").then_some(self.peak_pts).flatten(),
            region: self.region.clone(),
        }
    }
}

/// Turns the verdicts of scored frames, in order, into events.
#[derive(Debug)]
pub struct Debouncer {
    rules: EventRules,
    /// The last `window` scored frames before an event: whether each was a defect, with its verdict.
    recent: VecDeque<(FrameTime, Option<Verdict>)>,
    open: Option<Open>,
    last_id: u64,
}

impl Debouncer {
    pub fn new(rules: EventRules) -> Self {
        let window = rules.window.max(rules.start_frames).max(1);
        Debouncer {
            rules: EventRules { window, ..rules },
            recent: VecDeque::with_capacity(window as usize),
            open: None,
            last_id: 0,
        }
    }

    /// The id of the event in progress.
    pub fn current(&self) -> Option<u64> {
        self.open.as_ref().map(|open| open.id)
    }

    /// Takes the next scored frame; returns the event that starts or ends with it.
    pub fn push(&mut self, verdict: &Verdict, at: FrameTime) -> Option<Event> {
        if let Some(open) = &mut self.open {
            if verdict.is_anomaly {
                open.good_in_a_row = 0;
                open.note(verdict, at);
                return None;
            }
            if open.good_in_a_row == 0 {
                open.first_good = at;
            }
            open.good_in_a_row += 1;
            if open.good_in_a_row < self.rules.end_frames.max(1) {
                return None;
            }
            let ended = open.event("end", open.first_good);
            self.open = None;
            return Some(ended);
        }
        if self.recent.len() == self.rules.window as usize {
            self.recent.pop_front();
        }
        self.recent
            .push_back((at, verdict.is_anomaly.then(|| verdict.clone())));
        let defects = self.recent.iter().filter(|(_, v)| v.is_some()).count();
        if defects < self.rules.start_frames.max(1) as usize {
            return None;
        }
        self.last_id += 1;
        let mut open = Open {
            id: self.last_id,
            peak_score: f64::NEG_INFINITY,
            peak_pts: None,
            region: None,
            good_in_a_row: 0,
            first_good: FrameTime::default(),
        };
        let mut first = None;
        for (time, defect) in self.recent.drain(..) {
            if let Some(defect) = defect {
                first.get_or_insert(time);
                open.note(&defect, time);
            }
        }
        let started = open.event("start", first.expect("at least one defect frame"));
        self.open = Some(open);
        Some(started)
    }

    /// The stream ends at `at` (just after its last frame): ends the event in progress, at the first good
    /// frame after its last defect if there was one.
    pub fn finish(&mut self, at: FrameTime) -> Option<Event> {
        self.recent.clear();
        let open = self.open.take()?;
        let end = if open.good_in_a_row > 0 {
            open.first_good
        } else {
            at
        };
        Some(open.event("end", end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AnomalyMap, Criteria, Detection};

    /// A verdict of score `score` whose one region is `side`×`side` frame pixels.
    fn verdict(score: f64, side: usize) -> Verdict {
        let mut values = vec![0.0; 64];
        for y in 0..side {
            values[y * 8..y * 8 + side].fill(score as f32);
        }
        let detection = Detection {
            raw_score: score,
            map: AnomalyMap::new(8, 8, values),
            image_threshold: 1.0,
            pixel_threshold: 1.0,
        };
        let criteria = Criteria {
            min_region_area: 1,
            ..Criteria::default()
        };
        detection.verdict(&criteria, 8, 8)
    }

    fn at(frame: u64) -> FrameTime {
        FrameTime {
            pts: Some(frame * 10),
            running_time: Some(frame * 10 + 1),
        }
    }

    /// An event as (event, id, pts, peak score, peak pts, region side).
    type Seen = (&'static str, u64, u64, f64, Option<u64>, u32);

    /// The events of a run of scores.
    fn events(rules: EventRules, scores: &[f64]) -> Vec<Seen> {
        let mut debouncer = Debouncer::new(rules);
        scores
            .iter()
            .enumerate()
            .filter_map(|(i, &score)| {
                let side = if score >= 1.0 {
                    (score as usize).min(8)
                } else {
                    0
                };
                debouncer.push(&verdict(score, side), at(i as u64))
            })
            .map(|e| {
                let side = e.region.as_ref().map_or(0, |r| r.width);
                (
                    e.event,
                    e.id,
                    e.at.pts.unwrap(),
                    e.peak_score,
                    e.peak_pts,
                    side,
                )
            })
            .collect()
    }

    #[test]
    fn k_of_n_starts_and_m_good_in_a_row_end() {
        let rules = EventRules {
            start_frames: 2,
            window: 3,
            end_frames: 2,
        };
        // Frames 2 and 4 are defects two apart: 2 of the 3 frames 2–4 start the event at frame 2.
        // Frame 5 is good, 6 a defect again (resets the good run), 7 and 8 good: the end is frame 7.
        let scores = [
            0.1, 0.2, 2.0, 0.3, 3.0, 0.5, 5.0, 0.4, 0.2, 0.9, 2.0, 0.1, 0.1,
        ];
        assert_eq!(
            events(rules, &scores),
            [
                ("start", 1, 20, 3.0, None, 3),
                ("end", 1, 70, 5.0, Some(60), 5),
            ]
        );
        // A lone defect frame never starts one; one frame more of the same does.
        let lone = [0.1, 2.0, 0.1, 0.1, 0.1, 2.0, 2.0];
        assert_eq!(events(rules, &lone), [("start", 1, 50, 2.0, None, 2)]);
    }

    #[test]
    fn events_count_up_and_serialise_with_the_documented_names() {
        let rules = EventRules {
            start_frames: 1,
            window: 1,
            end_frames: 1,
        };
        let ids: Vec<(&str, u64)> = events(rules, &[2.0, 0.1, 2.0, 0.1])
            .into_iter()
            .map(|e| (e.0, e.1))
            .collect();
        assert_eq!(ids, [("start", 1), ("end", 1), ("start", 2), ("end", 2)]);

        let mut debouncer = Debouncer::new(rules);
        let start = debouncer.push(&verdict(2.0, 2), at(3)).unwrap();
        assert_eq!(debouncer.current(), Some(1));
        let json = serde_json::to_value(&start).unwrap();
        assert_eq!(json["event"], "start");
        assert_eq!(
            (json["pts"].as_u64(), json["running-time"].as_u64()),
            (Some(30), Some(31))
        );
        assert_eq!(json["peak-score"], 2.0);
        assert!(json.get("peak-pts").is_none(), "only on end");
        assert_eq!(json["region"]["width"], 2);
        let end = debouncer.push(&verdict(0.1, 0), at(4)).unwrap();
        assert_eq!(serde_json::to_value(&end).unwrap()["peak-pts"], 30);
        assert_eq!(debouncer.current(), None);
    }

    #[test]
    fn the_end_of_the_stream_ends_the_event_in_progress() {
        let rules = EventRules {
            start_frames: 2,
            window: 2,
            end_frames: 3,
        };
        let mut events = Debouncer::new(rules);
        assert!(events.finish(at(0)).is_none());
        events.push(&verdict(2.0, 2), at(1));
        assert_eq!(events.push(&verdict(3.0, 2), at(2)).unwrap().event, "start");
        let end = events.finish(at(3)).unwrap();
        assert_eq!((end.event, end.id, end.at), ("end", 1, at(3)));
        assert_eq!(end.peak_score, 3.0);
        assert_eq!(events.current(), None);
        // Ended by good frames too few to end it: dated at the first of them.
        events.push(&verdict(2.0, 2), at(4));
        events.push(&verdict(2.0, 2), at(5));
        events.push(&verdict(0.5, 0), at(6));
        assert_eq!(events.finish(at(7)).unwrap().at, at(6));
    }
}

// SPDX-License-Identifier: MIT OR Apache-2.0
//! The encoded frames of the last few seconds, whole GOPs, so that a clip can start before its event.

use std::collections::VecDeque;

/// Encoded buffers with their running time, from a keyframe on, covering at least `keep` before the newest
/// one and at most `max_bytes` (always the current GOP, however large).
pub struct Ring {
    buffers: VecDeque<Timed>,
    bytes: usize,
    keep: gst::ClockTime,
    max_bytes: usize,
}

/// A buffer and its running time.
pub type Timed = (Option<gst::ClockTime>, gst::Buffer);

fn is_keyframe((_, buffer): &Timed) -> bool {
    !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)
}

impl Ring {
    pub fn new(keep: gst::ClockTime, max_bytes: usize) -> Self {
        Ring {
            buffers: VecDeque::new(),
            bytes: 0,
            keep,
            max_bytes,
        }
    }

    pub fn push(&mut self, timed: Timed) {
        // Nothing decodes before the first keyframe.
        if self.buffers.is_empty() && !is_keyframe(&timed) {
            return;
        }
        self.bytes += timed.1.size();
        let newest = timed.0;
        self.buffers.push_back(timed);
        let oldest_needed = newest.and_then(|pts| pts.checked_sub(self.keep));
        // Drop a whole GOP while the next one still starts early enough, or while over the byte bound.
        while let Some(next_gop) = self.buffers.iter().skip(1).position(is_keyframe) {
            let next_start = self.buffers[next_gop + 1].0;
            let early_enough = matches!((next_start, oldest_needed), (Some(s), Some(o)) if s <= o);
            if !early_enough && self.bytes <= self.max_bytes {
                break;
            }
            for (_, dropped) in self.buffers.drain(..=next_gop) {
                self.bytes -= dropped.size();
            }
        }
    }

    /// The buffers from the last keyframe at or before running time `time` (from the oldest one when none
    /// is that old).
    pub fn since(&self, time: gst::ClockTime) -> impl Iterator<Item = &Timed> {
        let start = self
            .buffers
            .iter()
            .rposition(|timed| is_keyframe(timed) && timed.0.is_some_and(|t| t <= time))
            .unwrap_or(0);
        self.buffers.iter().skip(start)
    }

    pub fn clear(&mut self) {
        self.buffers.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame `i` at 10 frames/s, a keyframe every fifth, `size` bytes.
    fn frame(i: u64, size: usize) -> Timed {
        let mut buffer = gst::Buffer::with_size(size).unwrap();
        if !i.is_multiple_of(5) {
            buffer
                .get_mut()
                .unwrap()
                .set_flags(gst::BufferFlags::DELTA_UNIT);
        }
        (Some(gst::ClockTime::from_mseconds(i * 100)), buffer)
    }

    fn first_pts(ring: &Ring, pts_ms: u64) -> u64 {
        let (time, _) = ring
            .since(gst::ClockTime::from_mseconds(pts_ms))
            .next()
            .unwrap();
        time.unwrap().mseconds()
    }

    #[test]
    fn keeps_whole_gops_covering_the_pre_roll() {
        gst::init().unwrap();
        let mut ring = Ring::new(gst::ClockTime::from_mseconds(1200), usize::MAX);
        // Starts at the first keyframe.
        ring.push(frame(3, 10));
        assert_eq!(ring.since(gst::ClockTime::ZERO).count(), 0);
        for i in 5..=40 {
            ring.push(frame(i, 10));
        }
        // Newest 4.0 s: 2.8 s is needed, in the GOP starting at 2.5 s.
        assert_eq!(first_pts(&ring, 0), 2500);
        assert_eq!(first_pts(&ring, 2800), 2500);
        assert_eq!(first_pts(&ring, 3100), 3000);
        assert_eq!(ring.since(gst::ClockTime::from_mseconds(3100)).count(), 11);
    }

    #[test]
    fn a_byte_bound_drops_old_gops_but_never_the_current_one() {
        gst::init().unwrap();
        let mut ring = Ring::new(gst::ClockTime::from_seconds(60), 120);
        for i in 0..=12 {
            ring.push(frame(i, 10));
        }
        // 13 frames of 10 bytes: the first GOP went to stay under 120 bytes.
        assert_eq!(first_pts(&ring, 0), 500);
        let mut ring = Ring::new(gst::ClockTime::from_seconds(60), 5);
        for i in 0..=7 {
            ring.push(frame(i, 10));
        }
        assert_eq!(first_pts(&ring, 0), 500);
        assert_eq!(ring.since(gst::ClockTime::ZERO).count(), 3);
    }
}

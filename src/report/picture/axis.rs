//! The time axis follows the activity: stretches where nothing happened become narrow
//! breaks (`… 58.2 s …`), and the time that has events shares the width, so a 62 s run
//! whose story is in its first 2 s is still readable. Pure: events' times in, x out.

/// Activity is gathered at this grain while streaming (seconds).
const GRAIN: f64 = 0.25;
/// At most this many intervals are kept while streaming; past it the grain doubles.
const MAX_INTERVALS: usize = 4096;
/// A quiet stretch becomes a break only when at least this long (seconds)…
const MIN_BREAK_SECS: f64 = 2.0;
/// …and at least this share of the whole span.
const MIN_BREAK_SHARE: f64 = 0.05;
/// At most this many breaks: the longest quiet stretches win.
const MAX_BREAKS: usize = 8;
/// Width of a break on the page (px).
pub const BREAK_W: f64 = 34.0;
/// Narrowest an active stretch is drawn (px), so a burst of events stays apart.
const MIN_SEGMENT_W: f64 = 60.0;

/// When things happened, as merged intervals: memory grows with the run's length at a
/// coarse grain, never with its number of events.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    intervals: Vec<(f64, f64)>,
    grain: f64,
    sorted: bool,
}

impl Activity {
    pub fn new() -> Self {
        Activity {
            intervals: Vec::new(),
            grain: GRAIN,
            sorted: true,
        }
    }

    pub fn add(&mut self, t: f64) {
        if !t.is_finite() {
            return;
        }
        match self.intervals.last_mut() {
            Some(last) if t >= last.0 - self.grain && t <= last.1 + self.grain => {
                last.0 = last.0.min(t);
                last.1 = last.1.max(t);
            }
            Some(last) => {
                if t < last.0 {
                    self.sorted = false;
                }
                self.intervals.push((t, t));
            }
            None => self.intervals.push((t, t)),
        }
        if self.intervals.len() > MAX_INTERVALS {
            self.grain *= 2.0;
            self.merge();
        }
    }

    fn merge(&mut self) {
        if !self.sorted {
            self.intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
            self.sorted = true;
        }
        let mut merged: Vec<(f64, f64)> = Vec::with_capacity(self.intervals.len());
        for &(a, b) in &self.intervals {
            match merged.last_mut() {
                Some(last) if a <= last.1 + self.grain => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.intervals = merged;
    }

    /// The merged intervals, in time order.
    pub fn intervals(mut self) -> Vec<(f64, f64)> {
        self.merge();
        self.intervals
    }
}

/// One stretch of the axis: `[t0, t1]` drawn over `[x0, x1]`; `idle` stretches are breaks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub t0: f64,
    pub t1: f64,
    pub x0: f64,
    pub x1: f64,
    pub idle: bool,
}

/// Maps timeline seconds to x over `[left, left + width]`.
#[derive(Clone, Debug)]
pub struct Axis {
    pub segments: Vec<Segment>,
}

impl Axis {
    /// An axis over `intervals` (when things happened, in order) drawn in `width` px.
    pub fn new(intervals: &[(f64, f64)], left: f64, width: f64) -> Axis {
        let (Some(first), Some(last)) = (intervals.first(), intervals.last()) else {
            return Axis::linear(0.0, 1.0, left, width);
        };
        let (start, end) = (first.0, last.1.max(first.0 + 1.0));
        let span = end - start;
        // The longest quiet stretches worth a break.
        let threshold = MIN_BREAK_SECS.max(span * MIN_BREAK_SHARE);
        let mut gaps: Vec<(f64, f64)> = intervals
            .windows(2)
            .map(|w| (w[0].1, w[1].0))
            .filter(|(a, b)| b - a >= threshold)
            .collect();
        gaps.sort_by(|a, b| (b.1 - b.0).total_cmp(&(a.1 - a.0)));
        gaps.truncate(MAX_BREAKS);
        gaps.sort_by(|a, b| a.0.total_cmp(&b.0));
        if gaps.is_empty() {
            return Axis::linear(start, end, left, width);
        }
        // Active stretches between the breaks, padded a little so marks sit inside.
        let mut active = Vec::new();
        let mut from = start;
        for &(a, b) in &gaps {
            active.push((from, a));
            from = b;
        }
        active.push((from, end));
        let pad = |a: f64, b: f64| ((b - a) * 0.04).max(0.1);
        let active: Vec<(f64, f64)> = active
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| {
                let p = pad(a, b);
                let lo = if i == 0 { a } else { a - p };
                let hi = if i == active.len() - 1 { b } else { b + p };
                (lo, hi)
            })
            .collect();
        let busy: f64 = active.iter().map(|(a, b)| b - a).sum::<f64>().max(1e-9);
        let room = (width - BREAK_W * gaps.len() as f64).max(MIN_SEGMENT_W * active.len() as f64);
        // Each active stretch its share of the room, at least MIN_SEGMENT_W.
        let mut widths: Vec<f64> = active.iter().map(|(a, b)| room * (b - a) / busy).collect();
        let short: f64 = widths.iter().map(|w| (MIN_SEGMENT_W - w).max(0.0)).sum();
        if short > 0.0 {
            let long: f64 = widths.iter().filter(|w| **w > MIN_SEGMENT_W).sum();
            for w in &mut widths {
                if *w < MIN_SEGMENT_W {
                    *w = MIN_SEGMENT_W;
                } else {
                    *w -= short * (*w / long.max(1e-9));
                }
            }
        }
        let mut segments = Vec::new();
        let mut x = left;
        for (i, (&(a, b), w)) in active.iter().zip(&widths).enumerate() {
            segments.push(Segment {
                t0: a,
                t1: b,
                x0: x,
                x1: x + w,
                idle: false,
            });
            x += w;
            if let Some(next) = active.get(i + 1) {
                segments.push(Segment {
                    t0: b,
                    t1: next.0,
                    x0: x,
                    x1: x + BREAK_W,
                    idle: true,
                });
                x += BREAK_W;
            }
        }
        Axis { segments }
    }

    fn linear(t0: f64, t1: f64, left: f64, width: f64) -> Axis {
        Axis {
            segments: vec![Segment {
                t0,
                t1,
                x0: left,
                x1: left + width,
                idle: false,
            }],
        }
    }

    pub fn start(&self) -> f64 {
        self.segments[0].t0
    }

    pub fn end(&self) -> f64 {
        self.segments[self.segments.len() - 1].t1
    }

    /// x of time `t`; times outside the axis are clamped to its ends.
    pub fn x(&self, t: f64) -> f64 {
        let first = self.segments[0];
        let last = self.segments[self.segments.len() - 1];
        if t <= first.t0 {
            return first.x0;
        }
        if t >= last.t1 {
            return last.x1;
        }
        let i = self.segments.partition_point(|s| s.t1 < t);
        let s = self.segments[i.min(self.segments.len() - 1)];
        let f = if s.t1 > s.t0 {
            (t - s.t0) / (s.t1 - s.t0)
        } else {
            0.0
        };
        s.x0 + f.clamp(0.0, 1.0) * (s.x1 - s.x0)
    }

    /// Tick times with their labels: round steps inside each active stretch, about one
    /// per 70 px, none closer than 40 px to another.
    pub fn ticks(&self) -> Vec<(f64, String)> {
        // Times are seconds since the timeline started, as in the console logs.
        let origin = 0.0_f64.min(self.start());
        let mut out: Vec<(f64, String)> = Vec::new();
        let mut last_x = f64::NEG_INFINITY;
        for s in self.segments.iter().filter(|s| !s.idle) {
            let px = s.x1 - s.x0;
            let per_px = (s.t1 - s.t0) / px.max(1.0);
            let step = tick_step(per_px * 70.0);
            // Where a stretch after a break starts, when no round tick is near.
            let first = origin + ((s.t0 - origin) / step).ceil() * step;
            if self.x(first) - s.x0 > 40.0 && s.x0 - last_x >= 40.0 {
                out.push((s.t0, label(s.t0 - origin, step.min(0.5))));
                last_x = s.x0;
            }
            let mut k = ((s.t0 - origin) / step).ceil();
            while origin + k * step <= s.t1 + 1e-9 {
                let t = origin + k * step;
                let x = self.x(t);
                if x - last_x >= 40.0 {
                    out.push((t, label(t - origin, step)));
                    last_x = x;
                }
                k += 1.0;
            }
        }
        out
    }
}

/// A round step of at least `min` seconds.
pub fn tick_step(min: f64) -> f64 {
    const STEPS: [f64; 17] = [
        0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
        1800.0, 3600.0,
    ];
    STEPS.into_iter().find(|s| *s >= min).unwrap_or(7200.0)
}

fn label(t: f64, step: f64) -> String {
    if (t - t.round()).abs() < 1e-6 {
        format!("{t:.0}s")
    } else if step < 0.1 {
        format!("{t:.2}s")
    } else if step < 1.0 {
        format!("{t:.1}s")
    } else {
        format!("{t:.0}s")
    }
}

/// `58.2 s`, `3 min 5 s`: the length of a break.
pub fn span_text(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format!("{} min {:.0} s", (secs / 60.0).floor(), secs % 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(times: &[f64]) -> Vec<(f64, f64)> {
        let mut a = Activity::new();
        for t in times {
            a.add(*t);
        }
        a.intervals()
    }

    #[test]
    fn a_long_quiet_stretch_becomes_a_narrow_break() {
        // The story in the first 2 s, then a minute of waiting, then the verdicts.
        let mut times: Vec<f64> = (0..=20).map(|i| i as f64 * 0.1).collect();
        times.extend([61.5, 62.0]);
        let axis = Axis::new(&activity(&times), 0.0, 1000.0);
        let breaks: Vec<_> = axis.segments.iter().filter(|s| s.idle).collect();
        assert_eq!(breaks.len(), 1, "{:?}", axis.segments);
        assert!(breaks[0].x1 - breaks[0].x0 <= BREAK_W + 1e-9);
        // The first 2 s get most of the width, instead of 2/62 of it.
        let story = axis.x(2.0) - axis.x(0.0);
        assert!(story > 600.0, "the first 2 s span {story:.0} px of 1000");
        // Still monotonic and within bounds.
        let xs: Vec<f64> = [0.0, 1.0, 2.0, 30.0, 61.5, 62.0]
            .iter()
            .map(|t| axis.x(*t))
            .collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
        assert_eq!(axis.x(-5.0), 0.0);
        assert!((axis.x(99.0) - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn steady_activity_keeps_a_linear_axis() {
        let times: Vec<f64> = (0..=60).map(|i| i as f64).collect();
        let axis = Axis::new(&activity(&times), 100.0, 600.0);
        assert_eq!(axis.segments.len(), 1);
        assert!((axis.x(30.0) - 400.0).abs() < 1e-6);
    }

    #[test]
    fn a_short_burst_between_breaks_keeps_a_readable_width() {
        let axis = Axis::new(
            &activity(&[0.0, 1.0, 300.0, 300.05, 600.0, 601.0]),
            0.0,
            900.0,
        );
        assert_eq!(axis.segments.iter().filter(|s| s.idle).count(), 2);
        for s in axis.segments.iter().filter(|s| !s.idle) {
            assert!(s.x1 - s.x0 >= MIN_SEGMENT_W - 1e-6, "{s:?}");
        }
        let total = axis.segments.last().unwrap().x1;
        assert!((total - 900.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn ticks_are_round_and_never_crowd() {
        let mut times: Vec<f64> = (0..=40).map(|i| i as f64 * 0.05).collect();
        times.push(62.0);
        let axis = Axis::new(&activity(&times), 0.0, 1000.0);
        let ticks = axis.ticks();
        assert!(ticks.len() >= 4, "{ticks:?}");
        assert!(
            ticks.iter().any(|(t, _)| *t > 60.0),
            "the stretch after the break has its tick: {ticks:?}"
        );
        let xs: Vec<f64> = ticks.iter().map(|(t, _)| axis.x(*t)).collect();
        assert!(xs.windows(2).all(|w| w[1] - w[0] >= 40.0), "{xs:?}");
    }

    #[test]
    fn activity_memory_stays_bounded() {
        let mut a = Activity::new();
        for i in 0..1_000_000 {
            a.add(i as f64 * 0.3);
        }
        let n = a.intervals().len();
        assert!(n <= MAX_INTERVALS, "{n}");
    }
}

//! Placing text labels beside their marks without overprinting: each label takes the
//! first row where it overlaps nothing already placed; important labels (a job's end,
//! a failure) are placed first, so a passing QUEUED never hides a FAILED. A label that
//! fits nowhere is left out (its mark keeps the text as its hover title).

/// A label wanted at mark position `x`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wanted {
    pub x: f64,
    /// Estimated text width (px).
    pub width: f64,
    /// Higher goes first.
    pub priority: u8,
}

/// Where a label went: its row, and the text's left edge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub row: usize,
    pub left: f64,
}

/// Space between a mark and its label, and between two labels (px).
pub const GAP: f64 = 7.0;

/// Places `wanted` into `rows` rows between `min_x` and `max_x`: right of the mark, or
/// left of it when it would run past `max_x`. `None` where nothing fits.
pub fn place(wanted: &[Wanted], rows: usize, min_x: f64, max_x: f64) -> Vec<Option<Placed>> {
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by(|&a, &b| {
        wanted[b]
            .priority
            .cmp(&wanted[a].priority)
            .then(wanted[a].x.total_cmp(&wanted[b].x))
    });
    let mut taken: Vec<Vec<(f64, f64)>> = vec![Vec::new(); rows];
    let mut out = vec![None; wanted.len()];
    for i in order {
        let w = wanted[i];
        let right = w.x + GAP;
        let left = if right + w.width <= max_x {
            right
        } else {
            w.x - GAP - w.width
        };
        if left < min_x {
            continue;
        }
        let span = (left - GAP / 2.0, left + w.width + GAP / 2.0);
        for (row, spans) in taken.iter_mut().enumerate() {
            if spans.iter().all(|&(a, b)| span.1 <= a || span.0 >= b) {
                spans.push(span);
                out[i] = Some(Placed { row, left });
                break;
            }
        }
    }
    out
}

/// Estimated width of `text` at `font_px` in a sans-serif face (generous, so labels
/// estimated apart are apart on screen).
pub fn text_width(text: &str, font_px: f64) -> f64 {
    text.chars().count() as f64 * font_px * 0.62
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: (f64, f64), b: (f64, f64)) -> bool {
        a.0 < b.1 && b.0 < a.1
    }

    #[test]
    fn close_labels_never_overprint() {
        // QUEUED, IN_PROGRESS and FAILED within a few pixels of each other.
        let wanted = [
            Wanted {
                x: 100.0,
                width: 40.0,
                priority: 0,
            },
            Wanted {
                x: 104.0,
                width: 70.0,
                priority: 1,
            },
            Wanted {
                x: 108.0,
                width: 160.0,
                priority: 3,
            },
            Wanted {
                x: 112.0,
                width: 50.0,
                priority: 1,
            },
        ];
        let placed = place(&wanted, 3, 0.0, 1000.0);
        let spans: Vec<(usize, (f64, f64))> = placed
            .iter()
            .zip(&wanted)
            .filter_map(|(p, w)| p.map(|p| (p.row, (p.left, p.left + w.width))))
            .collect();
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                assert!(a.0 != b.0 || !overlaps(a.1, b.1), "{a:?} overprints {b:?}");
            }
        }
        assert_eq!(
            placed[2].map(|p| p.row),
            Some(0),
            "the failure takes the first row"
        );
        assert_eq!(
            placed.iter().flatten().count(),
            3,
            "three rows, four labels: one is left out"
        );
        assert!(placed[0].is_none(), "the least important label gives way");
    }

    #[test]
    fn a_label_at_the_right_edge_goes_left_of_its_mark() {
        let placed = place(
            &[Wanted {
                x: 990.0,
                width: 100.0,
                priority: 0,
            }],
            1,
            0.0,
            1000.0,
        );
        let p = placed[0].unwrap();
        assert!(p.left + 100.0 <= 990.0, "{p:?}");
    }

    #[test]
    fn far_apart_labels_share_the_first_row() {
        let wanted = [
            Wanted {
                x: 10.0,
                width: 50.0,
                priority: 0,
            },
            Wanted {
                x: 200.0,
                width: 50.0,
                priority: 0,
            },
        ];
        let placed = place(&wanted, 2, 0.0, 1000.0);
        assert_eq!(placed[0].unwrap().row, 0);
        assert_eq!(placed[1].unwrap().row, 0);
    }
}

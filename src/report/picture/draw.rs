//! The SVG of a gathered picture: the axis with its breaks, the steps/bench row, one
//! lane per board, the legend. Pure string building.

use std::fmt::Write;

use super::axis::{span_text, Axis};
use super::labels::{place, text_width, Wanted};
use super::lane::{Lane, Level, Mark, Shape, Track};
use super::PictureOptions;
use crate::model::ExecutionStatus;
use crate::report::artifacts::safe_name;
use crate::report::html::{colour_of, esc, href};

pub const WIDTH: f64 = 1400.0;
pub const LABEL_W: f64 = 170.0;
const VERDICT_W: f64 = 200.0;
pub const PLOT_W: f64 = WIDTH - LABEL_W - VERDICT_W;
const TOP: f64 = 44.0;
const BENCH_H: f64 = 34.0;
/// A lane's drawing; its failures are spelt out below it.
const LANE_PLOT_H: f64 = 92.0;
const NOTE_LINE_H: f64 = 14.0;
/// Rows of job labels in a lane.
const JOB_ROWS: usize = 3;
const FONT: f64 = 11.0;
const JOB_FONT: f64 = 9.0;
/// Failure text wraps at this many characters.
const NOTE_CHARS: usize = ((WIDTH - LABEL_W - 16.0) / (FONT * 0.6)) as usize;

fn failure_red() -> &'static str {
    "#d0021b"
}

/// Wrapped lines of a lane's failure notes (and of marks it could not draw).
fn note_lines(track: &Track) -> Vec<(Option<&Mark>, String)> {
    let mut out = Vec::new();
    for f in &track.failures {
        let number = match f.shape {
            Shape::Failure { number } => number,
            _ => 0,
        };
        let text = format!("{number}  at {:.3} s  {}", f.t, f.text);
        for (i, line) in wrap(&text, NOTE_CHARS).into_iter().enumerate() {
            out.push(((i == 0).then_some(f), line));
        }
    }
    if track.failures_dropped > 0 {
        out.push((
            None,
            format!(
                "… and {} more failures (the console log has them all)",
                track.failures_dropped
            ),
        ));
    }
    if track.dropped > 0 {
        out.push((
            None,
            format!(
                "{} more marks not drawn (the console log has every event)",
                track.dropped
            ),
        ));
    }
    out
}

/// Splits `text` into lines of at most `width` characters at spaces (hard splits for
/// longer words). Nothing is dropped.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        while word.chars().count() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        let extra = usize::from(!line.is_empty());
        if line.chars().count() + extra + word.chars().count() > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn lane_height(track: &Track) -> f64 {
    let n = note_lines(track).len();
    LANE_PLOT_H
        + if n > 0 {
            n as f64 * NOTE_LINE_H + 8.0
        } else {
            0.0
        }
}

/// Appends the picture's SVG to `svg`.
pub fn svg(
    svg: &mut String,
    axis: &Axis,
    bench: &Track,
    lanes: &[(Lane, Track)],
    options: &PictureOptions,
) {
    let bench_notes = note_lines(bench).len() as f64 * NOTE_LINE_H;
    let lanes_top = TOP + BENCH_H + bench_notes;
    let heights: Vec<f64> = lanes.iter().map(|(_, t)| lane_height(t)).collect();
    let bottom = lanes_top + heights.iter().sum::<f64>();
    let legend_y = bottom + 40.0;
    let height = legend_y + 50.0;
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" class="timeline" font-family="sans-serif" font-size="{FONT}"><defs><pattern id="idle" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#d5d8dc" stroke-width="3"/></pattern></defs>"##
    );
    // Lane backgrounds first, so the grid and breaks show over them.
    let mut y = lanes_top;
    for (i, h) in heights.iter().enumerate() {
        let fill = if i % 2 == 0 { "#fafafa" } else { "#f0f3f7" };
        let _ = write!(
            svg,
            r##"<rect x="0" y="{y:.1}" width="{WIDTH}" height="{h:.1}" fill="{fill}"/>"##
        );
        y += h;
    }
    axis_lines(svg, axis, bottom);
    bench_row(svg, axis, bench);
    let mut y = lanes_top;
    for ((lane, track), h) in lanes.iter().zip(&heights) {
        draw_lane(svg, axis, lane, track, y, options);
        y += h;
    }
    legend(svg, legend_y);
    svg.push_str("</svg>");
}

fn axis_lines(svg: &mut String, axis: &Axis, bottom: f64) {
    for s in axis.segments.iter().filter(|s| s.idle) {
        let _ = write!(
            svg,
            r##"<g class="break"><title>{title}</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="url(#idle)"/><text x="{cx:.1}" y="{ty:.1}" text-anchor="middle" font-size="9" font-style="italic" fill="#888">{label}</text></g>"##,
            title = esc(&format!(
                "nothing happened for {} ({:.3} s to {:.3} s): the axis skips it",
                span_text(s.t1 - s.t0),
                s.t0,
                s.t1
            )),
            x = s.x0,
            y = TOP,
            w = s.x1 - s.x0,
            h = bottom - TOP,
            cx = (s.x0 + s.x1) / 2.0,
            ty = TOP - 24.0,
            label = esc(&format!("⋯{}⋯", span_text(s.t1 - s.t0))),
        );
    }
    for (t, label) in axis.ticks() {
        let x = axis.x(t);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e2e2e2"/><text x="{x:.1}" y="{ty:.1}" text-anchor="middle" fill="#666">{label}</text><text x="{x:.1}" y="{by:.1}" text-anchor="middle" fill="#666">{label}</text>"##,
            ty = TOP - 8.0,
            by = bottom + 14.0,
        );
    }
    let _ = write!(
        svg,
        r##"<text x="8" y="{y:.1}" fill="#666">time since start</text><text x="{vx:.1}" y="{y:.1}" fill="#666">verdict</text>"##,
        y = TOP - 8.0,
        vx = LABEL_W + PLOT_W + 12.0
    );
}

fn bench_row(svg: &mut String, axis: &Axis, bench: &Track) {
    let y = TOP + BENCH_H / 2.0;
    let _ = write!(
        svg,
        r##"<text x="8" y="{yy:.1}" fill="#444">steps / bench</text>"##,
        yy = y + 4.0
    );
    // Step numbers in two rows, placed so that none hides another.
    let steps: Vec<&Mark> = bench
        .marks
        .iter()
        .filter(|m| matches!(m.shape, Shape::Step { .. }))
        .collect();
    let wanted: Vec<Wanted> = steps
        .iter()
        .map(|m| Wanted {
            x: axis.x(m.t) - 9.0 - super::labels::GAP,
            width: 18.0,
            priority: 0,
        })
        .collect();
    let placed = place(&wanted, 2, 0.0, WIDTH);
    for (m, p) in steps.iter().zip(&placed) {
        let Shape::Step { number } = m.shape else {
            continue;
        };
        let x = axis.x(m.t);
        let title = hover(m.t, &m.text);
        let line = format!(
            r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{y2:.1}" stroke="#9aa" stroke-dasharray="3,3"/>"##,
            top = TOP + 2.0,
            y2 = TOP + BENCH_H,
        );
        let number_box = p.map_or(String::new(), |p| {
            let (bx, by) = (p.left, TOP + 3.0 + 15.0 * p.row as f64);
            format!(
                r##"<rect x="{bx:.1}" y="{by:.1}" width="18" height="13" rx="3" fill="#eef" stroke="#99b"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="middle" font-size="9">{number}</text>"##,
                tx = bx + 9.0,
                ty = by + 10.0,
            )
        });
        let _ = write!(
            svg,
            r##"<g class="mark step"><title>{title}</title>{line}{number_box}</g>"##
        );
    }
    for m in bench
        .marks
        .iter()
        .filter(|m| !matches!(m.shape, Shape::Step { .. }))
    {
        let x = axis.x(m.t);
        let title = hover(m.t, &m.text);
        draw_mark(svg, x, y, &m.shape, &title, TOP + 2.0, TOP + BENCH_H - 2.0);
    }
    let mut ny = TOP + BENCH_H + 10.0;
    for (_, line) in note_lines(bench) {
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{ny:.1}" fill="{red}">{t}</text>"##,
            x = LABEL_W,
            red = failure_red(),
            t = esc(&line)
        );
        ny += NOTE_LINE_H;
    }
}

fn hover(t: f64, text: &str) -> String {
    esc(&format!("t={t:.3}s  {text}"))
}

/// A mark of the marks row at (x, y); `top`/`bottom`: the lane's extent for full-height
/// marks (resets, failures).
fn draw_mark(svg: &mut String, x: f64, y: f64, shape: &Shape, title: &str, top: f64, bottom: f64) {
    let body = match shape {
        Shape::Boot => format!(
            r##"<path d="M{x:.1},{a:.1} L{l:.1},{b:.1} L{r:.1},{b:.1} Z" fill="#27ae60"/>"##,
            a = y - 7.0,
            b = y + 5.0,
            l = x - 6.0,
            r = x + 6.0,
        ),
        Shape::Reset => format!(
            r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e67e22" stroke-width="3"/>"##
        ),
        Shape::Flash { ok } => format!(
            r##"<rect x="{rx:.1}" y="{ry:.1}" width="10" height="10" fill="#2e86de" stroke="{stroke}" stroke-width="2"/>"##,
            rx = x - 5.0,
            ry = y - 5.0,
            stroke = if *ok { "#2e86de" } else { "#c0392b" },
        ),
        Shape::Power { on } => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{c}" stroke="#333"/>"##,
            c = if *on { "#fff" } else { "#333" },
        ),
        Shape::Fault => format!(
            r##"<path d="M{a:.1},{c:.1} L{b:.1},{d:.1} M{a:.1},{d:.1} L{b:.1},{c:.1}" stroke="#c0392b" stroke-width="3"/>"##,
            a = x - 5.0,
            b = x + 5.0,
            c = y - 5.0,
            d = y + 5.0,
        ),
        Shape::BenchError => format!(
            r##"<path d="M{x:.1},{a:.1} L{r:.1},{y:.1} L{x:.1},{b:.1} L{l:.1},{y:.1} Z" fill="#8e44ad"/>"##,
            a = y - 6.0,
            b = y + 6.0,
            l = x - 6.0,
            r = x + 6.0,
        ),
        Shape::Verdict(v) => {
            let c = colour_of(*v);
            format!(
                r##"<path d="M{x:.1},{bottom:.1} V{top:.1} L{r:.1},{m:.1} L{x:.1},{d:.1}" fill="{c}" stroke="{c}"/>"##,
                r = x + 10.0,
                m = top + 5.0,
                d = top + 10.0,
            )
        }
        Shape::Failure { number } => {
            let red = failure_red();
            format!(
                r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="{red}" stroke-width="2" stroke-dasharray="5,2"/><rect x="{rx:.1}" y="{ry:.1}" width="16" height="14" rx="2" fill="{red}"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="middle" font-size="10" font-weight="bold" fill="#fff">{number}</text>"##,
                rx = x - 8.0,
                ry = y - 7.0,
                tx = x,
                ty = y + 4.0,
            )
        }
        Shape::Step { .. } | Shape::Job { .. } => String::new(),
    };
    let class = match shape {
        Shape::Boot => "boot",
        Shape::Reset => "reset",
        Shape::Flash { .. } => "flash",
        Shape::Power { .. } => "power",
        Shape::Fault => "fault",
        Shape::BenchError => "bench-error",
        Shape::Verdict(_) => "verdict-event",
        Shape::Failure { .. } => "failure",
        Shape::Step { .. } => "step",
        Shape::Job { .. } => "job",
    };
    let _ = write!(
        svg,
        r##"<g class="mark {class}"><title>{title}</title>{body}</g>"##
    );
}

fn job_colour(status: ExecutionStatus) -> &'static str {
    use ExecutionStatus::*;
    match status {
        Succeeded => "#1e8449",
        Failed | Rejected | TimedOut | Canceled | Removed => "#c0392b",
        Queued => "#7f8c8d",
        InProgress => "#d68910",
    }
}

/// How much a job label matters when space is short: a job's end first.
fn job_priority(status: ExecutionStatus, label: &str) -> u8 {
    match status {
        s if s.is_terminal() => 3,
        ExecutionStatus::InProgress if label != "IN_PROGRESS" => 2,
        ExecutionStatus::InProgress => 1,
        _ => 0,
    }
}

fn link_open(options: &PictureOptions, board: &str, line: Option<usize>) -> String {
    match (options.links, line) {
        (true, Some(n)) => format!(
            r##"<a href="{}">"##,
            href(&format!("{}.console.html#L{n}", safe_name(board)))
        ),
        _ => String::new(),
    }
}

fn link_close(options: &PictureOptions, line: Option<usize>) -> &'static str {
    if options.links && line.is_some() {
        "</a>"
    } else {
        ""
    }
}

fn draw_lane(
    svg: &mut String,
    axis: &Axis,
    lane: &Lane,
    track: &Track,
    y0: f64,
    options: &PictureOptions,
) {
    let b = esc(&lane.board);
    let console = if options.links {
        format!(
            r##"<a href="{}"><text x="8" y="{y:.1}" fill="#1f5fa8" font-size="10">console</text></a><a href="{}"><text x="60" y="{y:.1}" fill="#1f5fa8" font-size="10">MQTT</text></a>"##,
            href(&format!("{}.console.html", safe_name(&lane.board))),
            href(&format!("{}.mqtt.jsonl", safe_name(&lane.board))),
            y = y0 + 72.0,
        )
    } else {
        String::new()
    };
    let _ = write!(
        svg,
        r##"<g class="lane" data-board="{b}"><line x1="0" y1="{y0:.1}" x2="{WIDTH}" y2="{y0:.1}" stroke="#dde"/><text x="8" y="{ny:.1}" font-weight="bold">{role}</text><text x="8" y="{by:.1}" fill="#555">{b}</text><text x="8" y="{ty:.1}" fill="#888">{thing}</text>{console}"##,
        role = esc(&lane.role),
        thing = esc(&lane.thing),
        ny = y0 + 20.0,
        by = y0 + 36.0,
        ty = y0 + 52.0,
    );
    let (top, plot_bottom) = (y0 + 3.0, y0 + LANE_PLOT_H - 3.0);
    for &(a, z) in &track.power_off {
        let (xa, xz) = (axis.x(a), axis.x(z));
        let _ = write!(
            svg,
            r##"<rect class="power-off" x="{xa:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="#555" opacity="0.15"/>"##,
            w = (xz - xa).max(1.0),
            h = plot_bottom - top,
        );
    }
    for (a, z, text) in &track.online {
        let (xa, xz) = (axis.x(*a), axis.x(*z));
        let _ = write!(
            svg,
            r##"<g class="mark online"><title>{t}</title><rect x="{xa:.1}" y="{y:.1}" width="{w:.1}" height="6" rx="2" fill="#2ecc71"/></g>"##,
            t = hover(*a, text),
            y = y0 + 57.0,
            w = (xz - xa).max(2.0),
        );
    }
    download(svg, axis, &track.levels, y0 + 88.0, 20.0);

    // Job labels: placed so that none overprints another, a job's end first.
    let jobs: Vec<&Mark> = track
        .marks
        .iter()
        .filter(|m| matches!(m.shape, Shape::Job { .. }))
        .collect();
    let wanted: Vec<Wanted> = jobs
        .iter()
        .map(|m| match &m.shape {
            Shape::Job { status, label } => Wanted {
                x: axis.x(m.t),
                width: text_width(label, JOB_FONT),
                priority: job_priority(*status, label),
            },
            _ => unreachable!("filtered to jobs"),
        })
        .collect();
    let placed = place(&wanted, JOB_ROWS, LABEL_W - 4.0, LABEL_W + PLOT_W + 8.0);
    for (m, p) in jobs.iter().zip(&placed) {
        let Shape::Job { status, label } = &m.shape else {
            continue;
        };
        let x = axis.x(m.t);
        let row = p.map_or(0, |p| p.row);
        let cy = y0 + 11.0 + 12.0 * row as f64;
        let colour = job_colour(*status);
        let text = p.map_or(String::new(), |p| {
            format!(
                r##"<text x="{tx:.1}" y="{ty:.1}" font-size="{JOB_FONT}" fill="{colour}">{l}</text>"##,
                tx = p.left,
                ty = cy + 3.0,
                l = esc(label)
            )
        });
        let _ = write!(
            svg,
            r##"{open}<g class="mark job"><title>{t}</title><circle cx="{x:.1}" cy="{cy:.1}" r="4.5" fill="{colour}"/>{text}</g>{close}"##,
            open = link_open(options, &lane.board, m.line),
            t = hover(m.t, &m.text),
            close = link_close(options, m.line),
        );
    }
    let mark_y = y0 + 47.0;
    for m in track
        .marks
        .iter()
        .filter(|m| !matches!(m.shape, Shape::Job { .. }))
    {
        let _ = write!(svg, "{}", link_open(options, &lane.board, m.line));
        draw_mark(
            svg,
            axis.x(m.t),
            mark_y,
            &m.shape,
            &hover(m.t, &m.text),
            top,
            plot_bottom,
        );
        svg.push_str(link_close(options, m.line));
    }

    // The failures, spelt out under the lane.
    let mut ny = y0 + LANE_PLOT_H + 10.0;
    for (mark, line) in note_lines(track) {
        let text = format!(
            r##"<text x="{x:.1}" y="{ny:.1}" fill="{red}">{t}</text>"##,
            x = LABEL_W,
            red = failure_red(),
            t = esc(&line)
        );
        match mark {
            Some(m) => {
                let _ = write!(
                    svg,
                    "{}{text}{}",
                    link_open(options, &lane.board, m.line),
                    link_close(options, m.line)
                );
            }
            None => svg.push_str(&text),
        }
        ny += NOTE_LINE_H;
    }

    let verdict = lane.verdict.or(track.last_verdict);
    let vx = LABEL_W + PLOT_W + 12.0;
    let vy = y0 + LANE_PLOT_H / 2.0;
    match verdict {
        Some(v) => {
            let _ = write!(
                svg,
                r##"<g class="mark verdict" data-verdict="{name}"><title>{t}</title><rect x="{vx:.1}" y="{ry:.1}" width="{w:.1}" height="24" rx="5" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" fill="#fff" font-weight="bold">{name}</text></g>"##,
                t = esc(&match &lane.message {
                    Some(m) => format!("{}: {m}", v.as_str()),
                    None => v.as_str().to_string(),
                }),
                ry = vy - 12.0,
                w = VERDICT_W - 24.0,
                c = colour_of(v),
                tx = vx + 8.0,
                ty = vy + 4.0,
                name = v.as_str(),
            );
        }
        None => {
            let _ = write!(
                svg,
                r##"<text x="{vx:.1}" y="{ty:.1}" fill="#888">no verdict</text>"##,
                ty = vy + 4.0
            );
        }
    }
    svg.push_str("</g>");
}

/// Download progress as a stepped area, dropping to zero where a level stopped being true.
fn download(svg: &mut String, axis: &Axis, levels: &[Level], base: f64, height: f64) {
    if levels.is_empty() {
        return;
    }
    let mut d = String::new();
    let mut open = false;
    for level in levels {
        match level {
            Level::At { t, fraction, .. } => {
                let x = axis.x(*t);
                if !open {
                    let _ = write!(d, "M{x:.1},{base:.1}");
                    open = true;
                }
                let _ = write!(d, " H{x:.1} V{:.1}", base - fraction * height);
            }
            Level::End { t } if open => {
                let _ = write!(d, " H{:.1} V{base:.1} Z ", axis.x(*t));
                open = false;
            }
            Level::End { .. } => {}
        }
    }
    if open {
        let _ = write!(d, " H{:.1} V{base:.1} Z", axis.x(axis.end()));
    }
    let _ = write!(
        svg,
        r##"<line x1="{LABEL_W}" y1="{base:.1}" x2="{x2:.1}" y2="{base:.1}" stroke="#aed6f1"/><path class="download" d="{d}" fill="#85c1e9" fill-opacity="0.6" stroke="#2e86de" stroke-width="1"/>"##,
        x2 = LABEL_W + PLOT_W,
    );
    // Hover targets for about a dozen levels per download, and for its last: the exact
    // reports are in the MQTT transcript, and a fleet's page stays small.
    let ats: Vec<usize> = levels
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Level::At { .. }))
        .map(|(i, _)| i)
        .collect();
    let every = (ats.len() / 12).max(1);
    for (k, &i) in ats.iter().enumerate() {
        let last_of_run = !matches!(levels.get(i + 1), Some(Level::At { .. }));
        if k % every != 0 && !last_of_run {
            continue;
        }
        if let Level::At { t, fraction, text } = &levels[i] {
            let _ = write!(
                svg,
                r##"<g class="mark download-point"><title>{title}</title><circle cx="{x:.1}" cy="{y:.1}" r="3" fill="#2e86de" fill-opacity="0.3"/></g>"##,
                title = hover(*t, text),
                x = axis.x(*t),
                y = base - fraction * height,
            );
        }
    }
}

fn legend(svg: &mut String, y: f64) {
    let red = failure_red();
    let items: Vec<(String, &str)> = vec![
        (
            r##"<rect x="0" y="-5" width="10" height="10" fill="#2e86de"/>"##.into(),
            "flash",
        ),
        (
            r##"<path d="M5,-7 L-1,5 L11,5 Z" fill="#27ae60"/>"##.into(),
            "boot banner",
        ),
        (
            r##"<line x1="5" y1="-7" x2="5" y2="7" stroke="#e67e22" stroke-width="3"/>"##.into(),
            "reset",
        ),
        (
            r##"<circle cx="5" cy="0" r="5" fill="#333"/>"##.into(),
            "power off/on",
        ),
        (
            r##"<rect x="0" y="-3" width="14" height="6" fill="#2ecc71"/>"##.into(),
            "connected",
        ),
        (
            r##"<circle cx="5" cy="0" r="5" fill="#d68910"/>"##.into(),
            "job status",
        ),
        (
            r##"<rect x="0" y="-6" width="14" height="12" fill="#85c1e9"/>"##.into(),
            "download %",
        ),
        (
            r##"<path d="M0,-5 L10,5 M0,5 L10,-5" stroke="#c0392b" stroke-width="3"/>"##.into(),
            "fault",
        ),
        (
            r##"<path d="M5,-6 L11,0 L5,6 L-1,0 Z" fill="#8e44ad"/>"##.into(),
            "bench error",
        ),
        (
            format!(r##"<rect x="0" y="-7" width="14" height="14" rx="2" fill="{red}"/>"##),
            "expectation failed / guard hit",
        ),
        (
            r##"<rect x="0" y="-6" width="14" height="12" fill="#555" opacity="0.3"/>"##.into(),
            "powered off",
        ),
        (
            r##"<rect x="0" y="-7" width="14" height="14" fill="url(#idle)" stroke="#ccc"/>"##
                .into(),
            "idle (axis skips)",
        ),
    ];
    let mut x = 8.0;
    let mut yy = y;
    for (shape, label) in items {
        let w = 30.0 + text_width(label, FONT);
        if x + w > WIDTH {
            x = 8.0;
            yy += 20.0;
        }
        let _ = write!(
            svg,
            r##"<g class="legend" transform="translate({x:.1},{yy:.1})">{shape}<text x="18" y="4" fill="#444">{label}</text></g>"##
        );
        x += w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_character() {
        let text = "expected job SUCCEEDED within 5m, saw FAILED (rejected: 0x23000000) averyveryverylongwordwithoutspaces";
        let lines = wrap(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        let joined: String = lines.concat();
        assert_eq!(joined.replace(' ', ""), text.replace(' ', ""));
    }
}

//! The timeline picture: a self-contained HTML page with an inline SVG, one lane per
//! board along time. A pure function of the events, like nextest's chrome trace:
//! every mark carries the exact event text as its hover title.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use regex::Regex;

use super::model::Verdict;
use crate::model::ExecutionStatus;
use crate::timeline::{Event, EventKind, PowerState, Source};

/// One lane: a board bound to a role, and its verdict when known.
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    pub role: String,
    pub board: String,
    pub thing: String,
    pub verdict: Option<Verdict>,
    pub message: Option<String>,
}

/// How console lines are recognised as boots and resets.
#[derive(Clone, Debug)]
pub struct PictureOptions {
    /// A boot banner (the rig profile's `banner`).
    pub banner: Regex,
    /// A reset the firmware announces before it happens.
    pub reset: Regex,
}

impl Default for PictureOptions {
    fn default() -> Self {
        PictureOptions {
            banner: Regex::new(r"(?i)\bapp version\b|\bdemo version\b").expect("static regex"),
            reset: Regex::new(r"Resetting the device").expect("static regex"),
        }
    }
}

const WIDTH: f64 = 1200.0;
const LABEL_W: f64 = 170.0;
const VERDICT_W: f64 = 170.0;
const PLOT_W: f64 = WIDTH - LABEL_W - VERDICT_W;
const TOP: f64 = 30.0;
const BENCH_H: f64 = 30.0;
const LANE_H: f64 = 96.0;

/// Renders the page with default options.
pub fn render(title: &str, summary: &str, events: &[Event], lanes: &[Lane]) -> String {
    render_with(title, summary, events, lanes, &PictureOptions::default())
}

pub fn render_with(
    title: &str,
    summary: &str,
    events: &[Event],
    lanes: &[Lane],
    options: &PictureOptions,
) -> String {
    let scale = Scale::of(events);
    let lanes_top = TOP + BENCH_H;
    let legend_y = lanes_top + LANE_H * lanes.len() as f64 + 24.0;
    let height = legend_y + 40.0;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    axis(&mut svg, &scale, lanes_top + LANE_H * lanes.len() as f64);
    bench_row(
        &mut svg,
        &scale,
        events,
        lanes_top + LANE_H * lanes.len() as f64,
    );
    for (i, lane) in lanes.iter().enumerate() {
        let y0 = lanes_top + LANE_H * i as f64;
        draw_lane(&mut svg, &scale, events, lane, y0, i, options);
    }
    legend(&mut svg, legend_y);
    svg.push_str("</svg>");

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}: timeline</title>\
<style>body{{font-family:sans-serif;margin:16px;color:#222}} h1{{font-size:18px;margin:0 0 4px}} \
p.summary{{margin:0 0 12px;color:#555}} svg text{{pointer-events:none}} svg .mark{{cursor:help}} \
table{{border-collapse:collapse;margin-top:12px}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}</style>\
</head><body>\n<h1>{t}</h1>\n<p class=\"summary\">{s}</p>\n{svg}\n",
        t = esc(title),
        s = esc(summary),
    );
    verdict_table(&mut html, lanes);
    html.push_str("</body></html>\n");
    html
}

/// Maps timeline seconds to x.
struct Scale {
    t0: f64,
    span: f64,
}

impl Scale {
    fn of(events: &[Event]) -> Scale {
        let t0 = events.iter().map(|e| e.t).fold(f64::INFINITY, f64::min);
        let t1 = events.iter().map(|e| e.t).fold(f64::NEG_INFINITY, f64::max);
        if !t0.is_finite() {
            return Scale { t0: 0.0, span: 1.0 };
        }
        Scale {
            t0,
            span: (t1 - t0).max(1.0),
        }
    }

    fn x(&self, t: f64) -> f64 {
        LABEL_W + ((t - self.t0) / self.span).clamp(0.0, 1.0) * PLOT_W
    }

    fn end(&self) -> f64 {
        self.t0 + self.span
    }
}

/// A tick step giving at most about 12 ticks.
fn tick_step(span: f64) -> f64 {
    const STEPS: [f64; 14] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    ];
    STEPS
        .into_iter()
        .find(|s| span / s <= 12.0)
        .unwrap_or(3600.0)
}

fn axis(svg: &mut String, scale: &Scale, bottom: f64) {
    let step = tick_step(scale.span);
    let mut k = 0.0;
    while k * step <= scale.span + 1e-9 {
        let t = scale.t0 + k * step;
        let x = scale.x(t);
        let label = if step < 1.0 {
            format!("{:.1}s", k * step)
        } else {
            format!("{:.0}s", k * step)
        };
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#e4e4e4"/><text x="{x:.1}" y="{y:.1}" text-anchor="middle" fill="#666">{label}</text>"##,
            y = TOP - 8.0
        );
        k += 1.0;
    }
    let _ = write!(
        svg,
        r##"<text x="8" y="{y:.1}" fill="#666">time (s)</text><text x="{vx:.1}" y="{y:.1}" fill="#666">verdict</text>"##,
        y = TOP - 8.0,
        vx = LABEL_W + PLOT_W + 12.0
    );
}

/// The top row: scenario steps, and what the cloud or runner reported.
fn bench_row(svg: &mut String, scale: &Scale, events: &[Event], bottom: f64) {
    let y = TOP + BENCH_H / 2.0;
    let _ = write!(
        svg,
        r##"<text x="8" y="{yy:.1}" fill="#444">steps / bench</text>"##,
        yy = y + 4.0
    );
    for e in events {
        let x = scale.x(e.t);
        match (&e.source, &e.kind) {
            (
                _,
                EventKind::Step {
                    index,
                    text,
                    finished: false,
                    ..
                },
            ) => {
                let _ = write!(
                    svg,
                    r##"<g class="mark step"><title>{title}</title><line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#9aa" stroke-dasharray="3,3"/><rect x="{rx:.1}" y="{ry:.1}" width="16" height="14" rx="3" fill="#eef" stroke="#99b"/><text x="{x:.1}" y="{ty:.1}" text-anchor="middle" font-size="9">{n}</text></g>"##,
                    title = hover(e.t, &format!("step {}: {text}", index + 1)),
                    top = TOP + 4.0,
                    rx = x - 8.0,
                    ry = y - 7.0,
                    ty = y + 3.0,
                    n = index + 1,
                );
            }
            (Source::Board(_), _) => {}
            (_, EventKind::BenchError { message }) => diamond(
                svg,
                x,
                y,
                "#8e44ad",
                &hover(e.t, &format!("bench error: {message}")),
            ),
            (_, EventKind::Fault { what }) => {
                cross(svg, x, y, &hover(e.t, &format!("fault: {what}")))
            }
            _ => {}
        }
    }
}

fn draw_lane(
    svg: &mut String,
    scale: &Scale,
    events: &[Event],
    lane: &Lane,
    y0: f64,
    index: usize,
    options: &PictureOptions,
) {
    let fill = if index % 2 == 0 { "#fafafa" } else { "#f2f4f7" };
    let _ = write!(
        svg,
        r##"<g class="lane" data-board="{b}"><rect x="0" y="{y0:.1}" width="{WIDTH}" height="{LANE_H}" fill="{fill}"/><text x="8" y="{ny:.1}" font-weight="bold">{role}</text><text x="8" y="{by:.1}" fill="#555">{b}</text><text x="8" y="{ty:.1}" fill="#888">{thing}</text>"##,
        b = esc(&lane.board),
        role = esc(&lane.role),
        thing = esc(&lane.thing),
        ny = y0 + 22.0,
        by = y0 + 38.0,
        ty = y0 + 54.0,
    );
    let mine = |e: &&Event| match &e.source {
        Source::Board(b) if *b == lane.board => true,
        _ => e.kind.thing_or_client() == Some(lane.thing.as_str()),
    };
    let lane_events: Vec<&Event> = events.iter().filter(mine).collect();

    power_bands(svg, scale, &lane_events, y0);
    online_bar(svg, scale, &lane_events, y0 + 58.0);
    download(svg, scale, &lane_events, y0 + 90.0, 22.0);

    let mark_y = y0 + 40.0;
    // Job labels use two rows so that close status changes stay readable.
    let mut label_ends = [f64::NEG_INFINITY; 2];
    let mut last_job: BTreeMap<String, (ExecutionStatus, Option<String>)> = BTreeMap::new();
    for e in &lane_events {
        let x = scale.x(e.t);
        match &e.kind {
            EventKind::Console { line } if options.banner.is_match(line) => {
                let _ = write!(
                    svg,
                    r##"<g class="mark boot"><title>{t}</title><path d="M{x:.1},{a:.1} L{l:.1},{b:.1} L{r:.1},{b:.1} Z" fill="#27ae60"/></g>"##,
                    t = hover(e.t, &format!("boot: {line}")),
                    a = mark_y - 7.0,
                    b = mark_y + 5.0,
                    l = x - 6.0,
                    r = x + 6.0,
                );
            }
            EventKind::Console { line } if options.reset.is_match(line) => {
                let _ = write!(
                    svg,
                    r##"<g class="mark reset"><title>{t}</title><line x1="{x:.1}" y1="{a:.1}" x2="{x:.1}" y2="{b:.1}" stroke="#e67e22" stroke-width="3"/></g>"##,
                    t = hover(e.t, &format!("reset: {line}")),
                    a = y0 + 4.0,
                    b = y0 + LANE_H - 4.0,
                );
            }
            EventKind::Flash { image, ok, detail } => {
                let text = format!(
                    "flash {image}: {}{}",
                    if *ok { "ok" } else { "FAILED" },
                    detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
                let _ = write!(
                    svg,
                    r##"<g class="mark flash"><title>{t}</title><rect x="{rx:.1}" y="{ry:.1}" width="10" height="10" fill="#2e86de" stroke="{stroke}" stroke-width="2"/></g>"##,
                    t = hover(e.t, &text),
                    rx = x - 5.0,
                    ry = mark_y - 5.0,
                    stroke = if *ok { "#2e86de" } else { "#c0392b" },
                );
            }
            EventKind::Power { state, reason } => {
                let word = match state {
                    PowerState::On => "on",
                    PowerState::Off => "off",
                };
                let _ = write!(
                    svg,
                    r##"<g class="mark power"><title>{t}</title><circle cx="{x:.1}" cy="{mark_y:.1}" r="5" fill="{c}" stroke="#333"/></g>"##,
                    t = hover(e.t, &format!("power {word}: {reason}")),
                    c = if *state == PowerState::On {
                        "#fff"
                    } else {
                        "#333"
                    },
                );
            }
            EventKind::Fault { what } => {
                cross(svg, x, mark_y, &hover(e.t, &format!("fault: {what}")))
            }
            EventKind::BenchError { message } => diamond(
                svg,
                x,
                mark_y,
                "#8e44ad",
                &hover(e.t, &format!("bench error: {message}")),
            ),
            EventKind::Verdict { verdict, message } => {
                let text = match message {
                    Some(m) => format!("verdict {verdict}: {m}"),
                    None => format!("verdict {verdict}"),
                };
                let colour = colour_of(*verdict);
                let _ = write!(
                    svg,
                    r##"<g class="mark verdict-event"><title>{t}</title><path d="M{x:.1},{a:.1} V{b:.1} L{r:.1},{c:.1} L{x:.1},{d:.1}" fill="{colour}" stroke="{colour}"/></g>"##,
                    t = hover(e.t, &text),
                    a = y0 + LANE_H - 6.0,
                    b = y0 + 4.0,
                    r = x + 10.0,
                    c = y0 + 9.0,
                    d = y0 + 14.0,
                );
            }
            EventKind::JobExecution {
                job_id,
                status,
                status_details,
                ..
            } => {
                let self_test = status_details.get("self_test").cloned();
                let key = (*status, self_test.clone());
                let reason = status_details.get("reason");
                if last_job.get(job_id) == Some(&key) && reason.is_none() {
                    continue; // a progress-only update: drawn as the download line
                }
                last_job.insert(job_id.clone(), key);
                let label = match (&self_test, reason) {
                    (Some(st), _) if *status == ExecutionStatus::InProgress => st.clone(),
                    _ => status.to_string(),
                };
                let details: Vec<String> = status_details
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let text = format!("job {job_id}: {status} {{{}}}", details.join(", "));
                let colour = job_colour(*status);
                let label = short(&label, reason.map(String::as_str));
                let row = if x >= label_ends[0] || label_ends[0] <= label_ends[1] {
                    0
                } else {
                    1
                };
                label_ends[row] = x + 12.0 + 5.5 * label.chars().count() as f64;
                let job_y = y0 + 12.0 + 12.0 * row as f64;
                let _ = write!(
                    svg,
                    r##"<g class="mark job"><title>{t}</title><circle cx="{x:.1}" cy="{job_y:.1}" r="5" fill="{colour}"/><text x="{tx:.1}" y="{ty:.1}" font-size="9" fill="{colour}">{l}</text></g>"##,
                    t = hover(e.t, &text),
                    tx = x + 7.0,
                    ty = job_y + 3.0,
                    l = esc(&label),
                );
            }
            _ => {}
        }
    }

    let verdict = lane.verdict.or_else(|| last_verdict_event(&lane_events));
    let vx = LABEL_W + PLOT_W + 12.0;
    match verdict {
        Some(v) => {
            let _ = write!(
                svg,
                r##"<g class="mark verdict" data-verdict="{name}"><title>{t}</title><rect x="{vx:.1}" y="{ry:.1}" width="{w:.1}" height="24" rx="5" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" fill="#fff" font-weight="bold">{name}</text></g>"##,
                t = esc(&match &lane.message {
                    Some(m) => format!("{}: {m}", v.as_str()),
                    None => v.as_str().to_string(),
                }),
                ry = y0 + LANE_H / 2.0 - 12.0,
                w = VERDICT_W - 24.0,
                c = colour_of(v),
                tx = vx + 8.0,
                ty = y0 + LANE_H / 2.0 + 4.0,
                name = v.as_str(),
            );
        }
        None => {
            let _ = write!(
                svg,
                r##"<text x="{vx:.1}" y="{ty:.1}" fill="#888">no verdict</text>"##,
                ty = y0 + LANE_H / 2.0 + 4.0
            );
        }
    }
    svg.push_str("</g>");
}

fn last_verdict_event(events: &[&Event]) -> Option<Verdict> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::Verdict { verdict, .. } => Some(*verdict),
        _ => None,
    })
}

/// Grey bands while the board is powered off.
fn power_bands(svg: &mut String, scale: &Scale, events: &[&Event], y0: f64) {
    let mut off_since: Option<f64> = None;
    let mut bands = Vec::new();
    for e in events {
        if let EventKind::Power { state, .. } = &e.kind {
            match (state, off_since) {
                (PowerState::Off, None) => off_since = Some(e.t),
                (PowerState::On, Some(t)) => {
                    bands.push((t, e.t));
                    off_since = None;
                }
                _ => {}
            }
        }
    }
    if let Some(t) = off_since {
        bands.push((t, scale.end()));
    }
    for (a, b) in bands {
        let (xa, xb) = (scale.x(a), scale.x(b));
        let _ = write!(
            svg,
            r##"<rect class="power-off" x="{xa:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#555" opacity="0.15"/>"##,
            y = y0 + 2.0,
            w = (xb - xa).max(1.0),
            h = LANE_H - 4.0,
        );
    }
}

/// A green bar while the thing has at least one open connection at the gateway.
fn online_bar(svg: &mut String, scale: &Scale, events: &[&Event], y: f64) {
    let mut open: BTreeSet<u64> = BTreeSet::new();
    let mut since: Option<(f64, String)> = None;
    let mut segments = Vec::new();
    for e in events {
        if let EventKind::Connection {
            conn,
            connected,
            reason,
            client_id,
            ..
        } = &e.kind
        {
            let was_online = !open.is_empty();
            if *connected {
                open.insert(*conn);
            } else {
                open.remove(conn);
            }
            let text = format!(
                "{} conn {conn} ({client_id}){}",
                if *connected {
                    "connected"
                } else {
                    "disconnected"
                },
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            match (was_online, open.is_empty()) {
                (false, false) => since = Some((e.t, text)),
                (true, true) => {
                    if let Some((t, opened)) = since.take() {
                        segments.push((t, e.t, format!("{opened} → {text}")));
                    }
                }
                _ => {}
            }
        }
    }
    if let Some((t, opened)) = since {
        segments.push((t, scale.end(), opened));
    }
    for (a, b, text) in segments {
        let (xa, xb) = (scale.x(a), scale.x(b));
        let _ = write!(
            svg,
            r##"<g class="mark online"><title>{t}</title><rect x="{xa:.1}" y="{y:.1}" width="{w:.1}" height="6" rx="2" fill="#2ecc71"/></g>"##,
            t = hover(a, &text),
            w = (xb - xa).max(2.0),
        );
    }
}

/// Download progress as a stepped area, from the stream service and `receive` reports.
fn download(svg: &mut String, scale: &Scale, events: &[&Event], base: f64, height: f64) {
    let mut points: Vec<(f64, f64, String)> = Vec::new();
    for e in events {
        let (fraction, text) = match &e.kind {
            EventKind::StreamProgress {
                stream,
                blocks_served,
                block_count,
                ..
            } if *block_count > 0 => (
                *blocks_served as f64 / *block_count as f64,
                format!("stream {stream}: {blocks_served}/{block_count} blocks served"),
            ),
            EventKind::JobExecution {
                job_id,
                status_details,
                ..
            } => match crate::timeline::query::reported_progress(status_details) {
                Some(f) => (
                    f,
                    format!("job {job_id}: receive {}", status_details["receive"]),
                ),
                None => continue,
            },
            _ => continue,
        };
        points.push((e.t, fraction.clamp(0.0, 1.0), text));
    }
    if points.is_empty() {
        return;
    }
    let mut d = format!("M{:.1},{base:.1}", scale.x(points[0].0));
    for (t, f, _) in &points {
        let _ = write!(d, " H{:.1} V{:.1}", scale.x(*t), base - f * height);
    }
    let last_t = points[points.len() - 1].0;
    let until = events
        .iter()
        .filter(|e| e.t > last_t && ends_download(&e.kind))
        .map(|e| e.t)
        .next()
        .unwrap_or(scale.end());
    let _ = write!(d, " H{:.1} V{base:.1} Z", scale.x(until));
    let _ = write!(
        svg,
        r##"<line x1="{LABEL_W}" y1="{base:.1}" x2="{x2:.1}" y2="{base:.1}" stroke="#aed6f1"/><line x1="{LABEL_W}" y1="{top:.1}" x2="{x2:.1}" y2="{top:.1}" stroke="#aed6f1" stroke-dasharray="2,3"/>"##,
        x2 = LABEL_W + PLOT_W,
        top = base - height,
    );
    let _ = write!(
        svg,
        r##"<path class="download" d="{d}" fill="#85c1e9" fill-opacity="0.6" stroke="#2e86de" stroke-width="1"/>"##
    );
    // Invisible hover targets at each step, carrying the exact report.
    for (t, f, text) in &points {
        let _ = write!(
            svg,
            r##"<g class="mark download-point"><title>{title}</title><circle cx="{x:.1}" cy="{y:.1}" r="3" fill="#2e86de" fill-opacity="0.3"/></g>"##,
            title = hover(*t, text),
            x = scale.x(*t),
            y = base - f * height,
        );
    }
}

/// Where a download's last reported level stops being true.
fn ends_download(kind: &EventKind) -> bool {
    match kind {
        EventKind::Power { state, .. } => *state == PowerState::Off,
        EventKind::Connection { connected, .. } => !connected,
        EventKind::JobExecution {
            status,
            status_details,
            ..
        } => *status != ExecutionStatus::InProgress || status_details.contains_key("self_test"),
        EventKind::Flash { .. } => true,
        _ => false,
    }
}

fn short(label: &str, reason: Option<&str>) -> String {
    match reason {
        Some(r) if label == "FAILED" => format!("FAILED ({r})"),
        _ => label.to_string(),
    }
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

pub(crate) fn colour_of(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "#1e8449",
        Verdict::Failed => "#c0392b",
        Verdict::Bricked => "#641e16",
        Verdict::RecoveredByPowerCycle => "#d35400",
        Verdict::Error => "#8e44ad",
        Verdict::NotJudged => "#9b59b6",
        Verdict::Skipped => "#7f8c8d",
    }
}

fn cross(svg: &mut String, x: f64, y: f64, title: &str) {
    let _ = write!(
        svg,
        r##"<g class="mark fault"><title>{title}</title><path d="M{a:.1},{c:.1} L{b:.1},{d:.1} M{a:.1},{d:.1} L{b:.1},{c:.1}" stroke="#c0392b" stroke-width="3"/></g>"##,
        a = x - 5.0,
        b = x + 5.0,
        c = y - 5.0,
        d = y + 5.0,
    );
}

fn diamond(svg: &mut String, x: f64, y: f64, colour: &str, title: &str) {
    let _ = write!(
        svg,
        r##"<g class="mark bench-error"><title>{title}</title><path d="M{x:.1},{a:.1} L{r:.1},{y:.1} L{x:.1},{b:.1} L{l:.1},{y:.1} Z" fill="{colour}"/></g>"##,
        a = y - 6.0,
        b = y + 6.0,
        l = x - 6.0,
        r = x + 6.0,
    );
}

fn legend(svg: &mut String, y: f64) {
    let items: [(&str, &str); 10] = [
        (
            r##"<rect x="0" y="-5" width="10" height="10" fill="#2e86de"/>"##,
            "flash",
        ),
        (
            r##"<path d="M5,-7 L-1,5 L11,5 Z" fill="#27ae60"/>"##,
            "boot banner",
        ),
        (
            r##"<line x1="5" y1="-7" x2="5" y2="7" stroke="#e67e22" stroke-width="3"/>"##,
            "reset",
        ),
        (
            r##"<circle cx="5" cy="0" r="5" fill="#333"/>"##,
            "power off/on",
        ),
        (
            r##"<rect x="0" y="-3" width="14" height="6" fill="#2ecc71"/>"##,
            "connected",
        ),
        (
            r##"<circle cx="5" cy="0" r="5" fill="#d68910"/>"##,
            "job status",
        ),
        (
            r##"<rect x="0" y="-6" width="14" height="12" fill="#85c1e9"/>"##,
            "download %",
        ),
        (
            r##"<path d="M0,-5 L10,5 M0,5 L10,-5" stroke="#c0392b" stroke-width="3"/>"##,
            "fault",
        ),
        (
            r##"<path d="M5,-6 L11,0 L5,6 L-1,0 Z" fill="#8e44ad"/>"##,
            "bench error",
        ),
        (
            r##"<rect x="0" y="-6" width="14" height="12" fill="#555" opacity="0.3"/>"##,
            "powered off",
        ),
    ];
    let mut x = 8.0;
    for (shape, label) in items {
        let _ = write!(
            svg,
            r##"<g class="legend" transform="translate({x:.1},{y:.1})">{shape}<text x="18" y="4" fill="#444">{label}</text></g>"##
        );
        x += 28.0 + 6.5 * label.len() as f64;
    }
}

fn verdict_table(html: &mut String, lanes: &[Lane]) {
    html.push_str(
        "<table><tr><th>role (board)</th><th>thing</th><th>verdict</th><th>reason</th></tr>\n",
    );
    for lane in lanes {
        let _ = writeln!(
            html,
            "<tr><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&lane.role),
            esc(&lane.board),
            esc(&lane.thing),
            lane.verdict.map_or("—", Verdict::as_str),
            esc(lane.message.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</table>\n");
}

fn hover(t: f64, text: &str) -> String {
    esc(&format!("t={t:.3}s  {text}"))
}

/// Escapes text for XML/HTML, dropping characters XML 1.0 cannot carry (NUL, other
/// C0 controls but tab and newline, U+FFFE/U+FFFF) and ANSI escape sequences.
pub(crate) fn esc(text: &str) -> String {
    let clean = quick_junit::XmlString::new(text);
    let mut out = String::with_capacity(clean.len());
    for c in clean.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' | '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_stay_few_and_round() {
        assert_eq!(tick_step(5.0), 0.5);
        assert_eq!(tick_step(100.0), 10.0);
        assert_eq!(tick_step(600.0), 60.0);
    }

    #[test]
    fn escaping_removes_what_xml_cannot_hold() {
        assert_eq!(
            esc("a\u{1b}[31mred\u{1b}[0m\0 <b> ]]> & \"q\""),
            "ared &lt;b&gt; ]]&gt; &amp; &quot;q&quot;"
        );
    }
}

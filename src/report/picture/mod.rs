//! The timeline picture: a self-contained HTML page with an inline SVG, one lane per
//! board along time, like nextest's chrome trace drawn from its recording. Lanes that
//! need attention come first; the time axis follows the activity (idle stretches become
//! breaks); labels never overprint; failed expectations and guard hits are marked where
//! they happened and spelt out under their lane; every mark carries its event's exact
//! text as its hover title and links to its line in the board's console view.
//!
//! Built in one streaming pass: [`Builder::add`] takes each event as it is read from
//! `events.jsonl` and keeps only what it draws (bounded per lane, see [`lane`]).

pub mod axis;
mod draw;
pub mod labels;
pub mod lane;

use std::collections::BTreeMap;
use std::fmt::Write;

use regex::Regex;

use super::html::{attention_rank, esc, href, page_parts, Css};
use crate::timeline::Event;
use axis::{Activity, Axis};
pub use lane::Lane;
use lane::Track;

/// How console lines are recognised as boots and resets, and whether marks link to the
/// boards' console views.
#[derive(Clone, Debug)]
pub struct PictureOptions {
    /// A boot banner (the rig profile's `banner`).
    pub banner: Regex,
    /// A reset the firmware announces before it happens.
    pub reset: Regex,
    /// Link marks and lanes to `<board>.console.html` beside the page (and the run's
    /// `../index.html`).
    pub links: bool,
}

impl Default for PictureOptions {
    fn default() -> Self {
        PictureOptions {
            banner: Regex::new(r"(?i)\bapp version\b|\bdemo version\b").expect("static regex"),
            reset: Regex::new(r"Resetting the device").expect("static regex"),
            links: false,
        }
    }
}

/// Gathers a picture from events as they stream by.
pub struct Builder {
    lanes: Vec<Lane>,
    tracks: Vec<Track>,
    bench: Track,
    by_board: BTreeMap<String, usize>,
    by_thing: BTreeMap<String, usize>,
    activity: Activity,
    options: PictureOptions,
}

impl Builder {
    pub fn new(lanes: Vec<Lane>, options: PictureOptions) -> Self {
        let mut by_board = BTreeMap::new();
        let mut by_thing = BTreeMap::new();
        for (i, lane) in lanes.iter().enumerate() {
            by_board.entry(lane.board.clone()).or_insert(i);
            by_thing.entry(lane.thing.clone()).or_insert(i);
        }
        Builder {
            tracks: vec![Track::default(); lanes.len()],
            lanes,
            bench: Track::default(),
            by_board,
            by_thing,
            activity: Activity::new(),
            options,
        }
    }

    /// The lane `e` is drawn in, if any (its board's, or its thing's).
    pub fn lane_of(&self, e: &Event) -> Option<usize> {
        lane::lane_of(e, &self.by_board, &self.by_thing)
    }

    /// Takes one event; `line` is where it is in its lane's console log.
    pub fn add(&mut self, e: &Event, line: Option<usize>) {
        self.activity.add(e.t);
        match self.lane_of(e) {
            Some(i) => self.tracks[i].add(e, line, &self.options),
            None => self.bench.add_bench(e),
        }
    }

    pub fn finish(self) -> Picture {
        let intervals = self.activity.intervals();
        let axis = Axis::new(&intervals, draw::LABEL_W, draw::PLOT_W);
        let end = axis.end();
        let mut lanes: Vec<(Lane, Track)> = self
            .lanes
            .into_iter()
            .zip(self.tracks)
            .map(|(lane, mut track)| {
                track.close(end);
                (lane, track)
            })
            .collect();
        // Boards that need attention first; the role order otherwise (a stable sort).
        lanes.sort_by_key(|(lane, track)| {
            std::cmp::Reverse(attention_rank(lane.verdict.or(track.last_verdict)))
        });
        let mut bench = self.bench;
        bench.close(end);
        Picture {
            lanes,
            bench,
            axis,
            options: self.options,
        }
    }
}

/// A gathered picture, ready to render.
pub struct Picture {
    lanes: Vec<(Lane, Track)>,
    bench: Track,
    axis: Axis,
    options: PictureOptions,
}

impl Picture {
    /// The lanes in drawing order (attention first).
    pub fn lane_order(&self) -> Vec<&str> {
        self.lanes.iter().map(|(l, _)| l.board.as_str()).collect()
    }

    /// The page: title, summary, `notes` (what could not be read), the picture, and the
    /// boards' verdicts with their whole reasons.
    pub fn render(&self, title: &str, summary: &str, notes: &[String]) -> String {
        let css = if self.options.links {
            Css::Link("../otarig.css")
        } else {
            Css::Inline
        };
        // One string for the whole page: a fleet's picture is megabytes.
        let (head, tail) = page_parts(&format!("{title}: timeline"), css);
        let mut html = head;
        let _ = write!(
            html,
            "<h1>{}</h1>\n<p class=\"sub\">{}</p>\n",
            esc(title),
            esc(summary)
        );
        if self.options.links {
            html.push_str("<p class=\"sub\"><a href=\"../index.html\">← the run</a> · <a href=\"events.jsonl\">events.jsonl</a> (the whole timeline)</p>\n");
        }
        for note in notes {
            let _ = writeln!(html, "<p class=\"note\">{}</p>", esc(note));
        }
        draw::svg(
            &mut html,
            &self.axis,
            &self.bench,
            &self.lanes,
            &self.options,
        );
        self.verdict_table(&mut html);
        html.push_str(tail);
        html
    }

    fn verdict_table(&self, html: &mut String) {
        html.push_str(
            "<h2>Boards</h2><table><tr><th>verdict</th><th>role</th><th>board</th><th>thing</th><th>reason</th><th>evidence</th></tr>\n",
        );
        for (lane, track) in &self.lanes {
            let verdict = lane.verdict.or(track.last_verdict);
            let links = if self.options.links {
                let name = super::artifacts::safe_name(&lane.board);
                format!(
                    "<a href=\"{c}\">console</a> · <a href=\"{m}\">MQTT</a>",
                    c = href(&format!("{name}.console.html")),
                    m = href(&format!("{name}.mqtt.jsonl")),
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                html,
                "<tr id=\"board-{id}\"><td>{v}</td><td>{role}</td><td>{board}</td><td>{thing}</td><td class=\"reason\">{why}</td><td class=\"links\">{links}</td></tr>",
                id = esc(&lane.board),
                v = verdict.map_or_else(
                    || "no verdict".to_string(),
                    |v| super::html::badge(v.as_str(), v.as_str())
                ),
                role = esc(&lane.role),
                board = esc(&lane.board),
                thing = esc(&lane.thing),
                why = esc(lane.message.as_deref().unwrap_or("")),
            );
        }
        html.push_str("</table>\n");
    }
}

/// Renders the page for a slice of events with default options.
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
    let mut builder = Builder::new(lanes.to_vec(), options.clone());
    for e in events {
        builder.add(e, None);
    }
    builder.finish().render(title, summary, &[])
}

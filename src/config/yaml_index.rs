//! One pass over a configuration file's YAML that records where every node is, so that
//! loading stays linear in the file's size: a position is a walk down a tree (not a
//! re-parse of the file per diagnostic), and a step or board is deserialized from its own
//! text (not from the whole file per element).
//!
//! The events come from libyaml-rs, the parser yaml_serde itself runs, so every position
//! is the mark yaml_serde would give (`locate::locate` finds the same ones by failing on
//! purpose, one parse per lookup). The pass also refuses nesting deeper than
//! [`MAX_DEPTH`] as soon as it sees it: libyaml's scanner does work proportional to the
//! nesting depth for every token, so a 200 KB file of `[[[[…` would take it tens of
//! seconds before yaml_serde's own recursion limit says no.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use libyaml_rs as sys;
use serde::de::DeserializeOwned;

use super::locate::{self, Seg, YamlPath};

/// Deeper than any rig, scenario or fixture needs (about 8), far below where libyaml slows.
pub const MAX_DEPTH: usize = 32;

/// A position in the text: byte offset, and 0-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Mark {
    index: usize,
    line: usize,
    column: usize,
}

impl Mark {
    fn from_sys(m: sys::yaml_mark_t) -> Self {
        Mark {
            index: m.index as usize,
            line: m.line as usize,
            column: m.column as usize,
        }
    }

    /// 1-based, as diagnostics and yaml_serde's `Location` count.
    fn position(self) -> (usize, usize) {
        (self.line + 1, self.column + 1)
    }
}

#[derive(Debug)]
enum Kind {
    Scalar,
    Seq(Vec<usize>),
    /// Entries in order; a key that is not a scalar has no text.
    Map(Vec<(Option<String>, usize)>),
    /// `*name`: the anchored node, if the anchor was defined before.
    Alias(Option<usize>),
}

#[derive(Debug)]
struct Node {
    start: Mark,
    end: Mark,
    kind: Kind,
    /// `!tag value`: yaml_serde reads it as an enum, so no path goes through it.
    tagged: bool,
    /// Its text alone parses to the same value: no alias (whose anchor may be elsewhere)
    /// and no tag (whose handle may be declared elsewhere) inside.
    self_contained: bool,
}

/// Why a text has no index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexError {
    /// Not YAML (yaml_serde says why, at the same place).
    Syntax,
    /// A collection nested deeper than [`MAX_DEPTH`], at this 1-based line and column.
    TooDeep { line: usize, column: usize },
}

impl IndexError {
    pub fn message(&self) -> String {
        format!(
            "the YAML is nested more than {MAX_DEPTH} levels deep here; a rig, scenario or fixture file needs a handful: is a bracket or an indentation wrong?"
        )
    }
}

/// A problem found while deserializing one node, positioned in the whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Where every node of a YAML document is.
#[derive(Debug)]
pub struct YamlIndex {
    nodes: Vec<Node>,
    root: Option<usize>,
}

impl YamlIndex {
    /// Reads the first document of `text` in one pass.
    pub fn build(text: &str) -> Result<Self, IndexError> {
        let mut b = Builder::default();
        let outcome = parse_events(text, |e| b.event(e));
        match outcome {
            Err(()) => Err(IndexError::Syntax),
            Ok(()) => match b.too_deep {
                Some(m) => {
                    let (line, column) = m.position();
                    Err(IndexError::TooDeep { line, column })
                }
                None => Ok(YamlIndex {
                    nodes: b.nodes,
                    root: b.root,
                }),
            },
        }
    }

    /// The node at `path`, as yaml_serde would reach it (aliases followed, tags opaque).
    fn node(&self, path: &YamlPath) -> Option<usize> {
        let mut id = self.resolve(self.root?)?;
        for seg in &path.0 {
            let node = &self.nodes[id];
            if node.tagged {
                return None;
            }
            let next = match (&node.kind, seg) {
                (Kind::Map(entries), Seg::Key(k)) => entries
                    .iter()
                    .find(|(key, _)| key.as_deref() == Some(k.as_str()))
                    .map(|&(_, v)| v)?,
                (Kind::Seq(items), Seg::Index(i)) => *items.get(*i)?,
                _ => return None,
            };
            id = self.resolve(next)?;
        }
        Some(id)
    }

    fn resolve(&self, id: usize) -> Option<usize> {
        match self.nodes[id].kind {
            Kind::Alias(target) => target,
            _ => Some(id),
        }
    }

    /// Line and column (1-based) of the node at `path`, or `None` when there is none:
    /// what [`locate::locate`] finds, without parsing again.
    pub fn locate(&self, path: &YamlPath) -> Option<(usize, usize)> {
        self.node(path).map(|id| self.nodes[id].start.position())
    }

    /// Like [`YamlIndex::locate`], falling back to the nearest enclosing node, then 1:1.
    pub fn locate_nearest(&self, path: &YamlPath) -> (usize, usize) {
        let mut p = path.clone();
        loop {
            if let Some(pos) = self.locate(&p) {
                return pos;
            }
            if p.0.pop().is_none() {
                return (1, 1);
            }
        }
    }

    /// The keys of the map at `path`, in order (`None` when it is not a map); a key that
    /// is not a scalar reads as an empty string.
    pub fn map_keys(&self, path: &YamlPath) -> Option<Vec<String>> {
        match self.node(path).map(|id| &self.nodes[id].kind) {
            Some(Kind::Map(entries)) => Some(
                entries
                    .iter()
                    .map(|(key, _)| key.clone().unwrap_or_default())
                    .collect(),
            ),
            _ => None,
        }
    }

    /// How many elements the sequence at `path` has (0 when it is not a sequence).
    pub fn seq_len(&self, path: &YamlPath) -> usize {
        match self.node(path).map(|id| &self.nodes[id].kind) {
            Some(Kind::Seq(items)) => items.len(),
            _ => 0,
        }
    }

    /// Deserializes only the node at `path` (`Ok(None)` if there is none), from its own
    /// text: what [`locate::deserialize_at`] gives, errors at the same positions with the
    /// same messages, in time proportional to the node's size rather than the file's.
    pub fn deserialize_at<T: DeserializeOwned>(
        &self,
        text: &str,
        path: &YamlPath,
    ) -> Result<Option<T>, NodeError> {
        let Some(id) = self.node(path) else {
            return Ok(None);
        };
        let node = &self.nodes[id];
        let whole_file = |text: &str| {
            locate::deserialize_at::<T>(text, path).map_err(|e| {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or_else(|| node.start.position());
                NodeError {
                    line,
                    column,
                    message: locate::strip_marks(&e.to_string()),
                }
            })
        };
        let Some(own) = text.get(node.start.index..node.end.index) else {
            return whole_file(text);
        };
        if !node.self_contained || node.tagged {
            return whole_file(text);
        }
        // The node's text where it stands: blanks up to its column, so the indentation of
        // its later lines means what it meant in the file, and columns stay the same.
        let mut sub = " ".repeat(node.start.column);
        sub.push_str(own);
        sub.push('\n');
        locate::deserialize_at::<T>(&sub, &YamlPath::root()).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line() + node.start.line, l.column()))
                .unwrap_or_else(|| node.start.position());
            NodeError {
                line,
                column,
                message: prefix_path(path, &locate::strip_marks(&e.to_string())),
            }
        })
    }
}

/// yaml_serde starts a message with the path to the failing value (`flash.image: …`), from
/// the document it parsed; the node's own text starts at `base`. Its other messages start
/// with words (`invalid type: …`, `unknown field …`), never with a space-free `x: `.
fn prefix_path(base: &YamlPath, message: &str) -> String {
    if base.0.is_empty() {
        return message.to_string();
    }
    let inner = message.split_once(": ").filter(|(p, _)| {
        !p.is_empty()
            && !p
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '`' | '"' | '\''))
    });
    match inner {
        Some((p, rest)) if p.starts_with('[') => format!("{base}{p}: {rest}"),
        Some((p, rest)) => format!("{base}.{p}: {rest}"),
        None => format!("{base}: {message}"),
    }
}

enum Event {
    DocumentEnd,
    Scalar { text: String },
    SeqStart,
    MapStart,
    End,
    Alias { anchor: Vec<u8> },
    Other,
}

struct Parsed {
    event: Event,
    anchor: Option<Vec<u8>>,
    tagged: bool,
    start: Mark,
    end: Mark,
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    root: Option<usize>,
    /// Open collections, and for a map whether its next node is a key (and the key read).
    stack: Vec<(usize, Option<Option<String>>)>,
    anchors: HashMap<Vec<u8>, usize>,
    too_deep: Option<Mark>,
    done: bool,
}

impl Builder {
    /// Takes one event; `false` stops the parse.
    fn event(&mut self, p: Parsed) -> bool {
        let (kind, key_text) = match p.event {
            Event::DocumentEnd => {
                self.done = true;
                return false;
            }
            Event::Other => return true,
            Event::End => {
                if let Some((id, _)) = self.stack.pop() {
                    self.nodes[id].end = p.end;
                }
                return true;
            }
            Event::Scalar { text } => (Kind::Scalar, Some(text)),
            Event::SeqStart => (Kind::Seq(Vec::new()), None),
            Event::MapStart => (Kind::Map(Vec::new()), None),
            Event::Alias { anchor } => (Kind::Alias(self.anchors.get(&anchor).copied()), None),
        };
        let id = self.nodes.len();
        let opens = matches!(kind, Kind::Seq(_) | Kind::Map(_));
        let self_contained = !(p.tagged || matches!(kind, Kind::Alias(_)));
        self.nodes.push(Node {
            start: p.start,
            end: p.end,
            kind,
            tagged: p.tagged,
            self_contained,
        });
        if !self_contained {
            for &(open, _) in &self.stack {
                self.nodes[open].self_contained = false;
            }
        }
        if let Some(anchor) = p.anchor {
            self.anchors.insert(anchor, id);
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(id);
                }
            }
            Some((parent, pending)) => match (&mut self.nodes[*parent].kind, pending.take()) {
                (Kind::Seq(items), _) => items.push(id),
                (Kind::Map(_), None) => *pending = Some(key_text),
                (Kind::Map(entries), Some(key)) => entries.push((key, id)),
                _ => {}
            },
        }
        if opens {
            if self.stack.len() >= MAX_DEPTH {
                self.too_deep = Some(p.start);
                return false;
            }
            self.stack.push((id, None));
        }
        true
    }
}

/// Runs libyaml over `text`, handing each event to `f` until it returns `false` or the
/// stream ends. `Err` on a syntax error.
fn parse_events(text: &str, mut f: impl FnMut(Parsed) -> bool) -> Result<(), ()> {
    // SAFETY: the parser is initialised before use and deleted once; it reads `text`,
    // which outlives it; each event is read, copied out and deleted before the next.
    unsafe {
        let mut parser = Box::new(MaybeUninit::<sys::yaml_parser_t>::uninit());
        let p = parser.as_mut_ptr();
        if sys::yaml_parser_initialize(p).fail {
            return Err(());
        }
        sys::yaml_parser_set_encoding(p, sys::YAML_UTF8_ENCODING);
        sys::yaml_parser_set_input_string(p, text.as_ptr(), text.len() as _);
        let result = loop {
            let mut event = MaybeUninit::<sys::yaml_event_t>::uninit();
            if sys::yaml_parser_parse(p, event.as_mut_ptr()).fail {
                break Err(());
            }
            let parsed = convert(&*event.as_ptr());
            sys::yaml_event_delete(event.as_mut_ptr());
            let Some(parsed) = parsed else {
                break Ok(()); // the end of the stream
            };
            if !f(parsed) {
                break Ok(());
            }
        };
        sys::yaml_parser_delete(p);
        result
    }
}

/// `None` at the end of the stream.
///
/// # Safety
/// `e` is an event libyaml just produced.
unsafe fn convert(e: &sys::yaml_event_t) -> Option<Parsed> {
    let bytes = |ptr: *const u8, len: usize| -> Vec<u8> {
        if ptr.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(ptr, len).to_vec()
        }
    };
    let cstr = |ptr: *const u8| -> Option<Vec<u8>> {
        (!ptr.is_null()).then(|| std::ffi::CStr::from_ptr(ptr.cast()).to_bytes().to_vec())
    };
    let (event, anchor, tagged) = match e.type_ {
        sys::YAML_STREAM_END_EVENT => return None,
        sys::YAML_DOCUMENT_END_EVENT => (Event::DocumentEnd, None, false),
        sys::YAML_SCALAR_EVENT => {
            let s = e.data.scalar;
            let text = bytes(s.value, s.length as usize);
            (
                Event::Scalar {
                    text: String::from_utf8_lossy(&text).into_owned(),
                },
                cstr(s.anchor),
                !s.tag.is_null(),
            )
        }
        sys::YAML_SEQUENCE_START_EVENT => {
            let s = e.data.sequence_start;
            (Event::SeqStart, cstr(s.anchor), !s.tag.is_null())
        }
        sys::YAML_MAPPING_START_EVENT => {
            let s = e.data.mapping_start;
            (Event::MapStart, cstr(s.anchor), !s.tag.is_null())
        }
        sys::YAML_SEQUENCE_END_EVENT | sys::YAML_MAPPING_END_EVENT => (Event::End, None, false),
        sys::YAML_ALIAS_EVENT => (
            Event::Alias {
                anchor: cstr(e.data.alias.anchor).unwrap_or_default(),
            },
            None,
            false,
        ),
        _ => (Event::Other, None, false),
    };
    Some(Parsed {
        event,
        anchor,
        tagged,
        start: Mark::from_sys(e.start_mark),
        end: Mark::from_sys(e.end_mark),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents in the shapes rig and scenario files take, and some they should not.
    const DOCS: &[&str] = &[
        "name: x\nsteps:\n  - flash: { boards: all, image: app-v4 }\n  - expect:\n      board: thing1\n      console: 'a['\n",
        "name: y\nboards: { a: {}, b: { thing_name: T } }\nsteps:\n- wait: 1s\n- power_cycle: { boards: [a, b] }\n- never: { console: x }\nnever:\n  - { console: 'Hard fault' }\nrecovery: { within: 1m }\n",
        "steps: [ {wait: 1s}, {expect: {board: a,\n   online: true, within: 2s}} ]\n",
        "base: &b { boards: all, image: app-v4 }\nsteps:\n  - flash: *b\n  - flash: !custom { boards: all }\n  - 'quoted': \"x\"\n",
        "# comment\n\nboards:\n  - name: sim-1 # trailing\n    native: { sim: {} }\n    timeouts:\n      boot: 1 fortnight\n  - { name: sim-2, thing_name: Thing2 }\n",
        "steps:\n  - |\n    literal\n    block\n  - - nested\n    - seq\n  - role:\n",
        "— unicode: ünïcödé\nsteps:\n  - expect: { board: ü, console: 'ß', within: 1s }\n",
    ];

    fn paths_of(doc: &str) -> Vec<YamlPath> {
        // Every path to every node, plus some that do not exist.
        fn walk(v: &yaml_serde::Value, p: YamlPath, out: &mut Vec<YamlPath>) {
            out.push(p.clone());
            out.push(p.key("missing"));
            out.push(p.idx(9));
            match v {
                yaml_serde::Value::Mapping(m) => {
                    for (k, v) in m {
                        if let Some(k) = k.as_str() {
                            walk(v, p.key(k), out);
                        }
                    }
                }
                yaml_serde::Value::Sequence(s) => {
                    for (i, v) in s.iter().enumerate() {
                        walk(v, p.idx(i), out);
                    }
                }
                yaml_serde::Value::Tagged(t) => walk(&t.value, p.key("value"), out),
                _ => {}
            }
        }
        let v: yaml_serde::Value = yaml_serde::from_str(doc).unwrap();
        let mut out = Vec::new();
        walk(&v, YamlPath::root(), &mut out);
        out
    }

    #[test]
    fn positions_are_the_ones_yaml_serde_gives() {
        for doc in DOCS {
            let index = YamlIndex::build(doc).unwrap();
            for path in paths_of(doc) {
                assert_eq!(
                    index.locate(&path),
                    locate::locate(doc, &path),
                    "{path} in\n{doc}"
                );
                assert_eq!(
                    index.locate_nearest(&path),
                    locate::locate_nearest(doc, &path),
                    "{path} in\n{doc}"
                );
            }
        }
    }

    #[test]
    fn map_keys_are_the_keys_yaml_serde_reads_in_order() {
        for doc in DOCS {
            let index = YamlIndex::build(doc).unwrap();
            let v: yaml_serde::Value = yaml_serde::from_str(doc).unwrap();
            for path in paths_of(doc) {
                let mut node = Some(&v);
                for seg in &path.0 {
                    node = node.and_then(|n| match seg {
                        Seg::Key(k) => n.get(k.as_str()),
                        Seg::Index(i) => n.get(*i),
                    });
                }
                let want = node.and_then(|n| n.as_mapping()).map(|m| {
                    m.keys()
                        .map(|k| k.as_str().unwrap_or_default().to_string())
                        .collect::<Vec<_>>()
                });
                if want.is_some() {
                    assert_eq!(index.map_keys(&path), want, "{path} in\n{doc}");
                }
            }
        }
        let index = YamlIndex::build("a: { x: 1, 'y': [2], z: }\n").unwrap();
        assert_eq!(
            index.map_keys(&YamlPath::root().key("a")),
            Some(vec!["x".into(), "y".into(), "z".into()])
        );
        assert_eq!(index.map_keys(&YamlPath::root().key("a").key("y")), None);
    }

    #[test]
    fn positions_in_the_shipped_files_are_the_ones_yaml_serde_gives() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for dir in ["scenarios", "rigs", "firmware-fixtures", "tests/corpus"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|x| x != "yaml") {
                    continue;
                }
                let doc = std::fs::read_to_string(&path).unwrap();
                if yaml_serde::from_str::<yaml_serde::Value>(&doc).is_err() {
                    continue; // the corpus's broken YAML
                }
                let index = YamlIndex::build(&doc).unwrap();
                for p in paths_of(&doc) {
                    assert_eq!(
                        index.locate(&p),
                        locate::locate(&doc, &p),
                        "{p} in {}",
                        path.display()
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 30, "{checked}");
    }

    #[test]
    fn a_node_parsed_alone_gives_what_the_whole_file_gives() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Flash {
            boards: String,
            image: u32,
        }
        #[derive(Debug, PartialEq, serde::Deserialize)]
        #[serde(rename_all = "snake_case", deny_unknown_fields)]
        enum Step {
            Flash(Flash),
            Wait(String),
        }
        let doc = "steps:\n  - wait: 1s\n  - flash: { boards: all, image: 5 }\n  - flash:\n      boards: all\n      image: app\n  - flash: { boards: all, imag: 1 }\n  - reboot: {}\n  - [x]\n  - flash: *nope\n";
        let doc_ok = &doc[..doc.find("  - flash:\n").unwrap()];
        let index = YamlIndex::build(doc_ok).unwrap();
        let step = |i: usize| YamlPath::root().key("steps").idx(i);
        assert_eq!(
            index.deserialize_at::<Step>(doc_ok, &step(1)),
            Ok(Some(Step::Flash(Flash {
                boards: "all".into(),
                image: 5
            })))
        );
        assert_eq!(index.deserialize_at::<Step>(doc_ok, &step(7)), Ok(None));
        let doc = &doc[..doc.find("  - flash: *nope").unwrap()];
        let index = YamlIndex::build(doc).unwrap();
        for i in 0..6 {
            let whole = locate::deserialize_at::<Step>(doc, &step(i)).map_err(|e| {
                let l = e.location().unwrap();
                (l.line(), l.column(), locate::strip_marks(&e.to_string()))
            });
            let alone = index
                .deserialize_at::<Step>(doc, &step(i))
                .map_err(|e| (e.line, e.column, e.message));
            assert_eq!(alone, whole, "step {i}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_at_once_with_its_position() {
        let doc = format!(
            "steps:\n  - wait: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = YamlIndex::build(&doc).unwrap_err();
        assert_eq!(
            err,
            IndexError::TooDeep {
                line: 2,
                column: 11 + MAX_DEPTH - 3
            }
        );
        assert!(YamlIndex::build("a: [").is_err());
    }
}

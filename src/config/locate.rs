//! Positions of values in YAML source. yaml_serde has no spans, but it marks every
//! error with the line and column of the innermost node being deserialized. So to
//! find where `steps[2].job.image` is, we walk to it with a seed and fail there on
//! purpose; and to parse one element with exact positions, we walk to it and
//! deserialize only that node. Both re-read the source, so loading uses them through
//! [`Ctx`], which reads it once ([`YamlIndex`]) and keeps these for one-off look-ups and
//! as the reference the index is tested against.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserializer;

use super::diag::{Diagnostic, Diagnostics, Severity};
use super::yaml_index::{IndexError, NodeError, YamlIndex};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root, e.g. `steps[2].job.image`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct YamlPath(pub Vec<Seg>);

impl YamlPath {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    pub fn idx(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(index));
        p
    }

    /// The last key of the path (`within` for `steps[3].expect.within`), for messages.
    pub fn field(&self) -> &str {
        self.0
            .iter()
            .rev()
            .find_map(|s| match s {
                Seg::Key(k) => Some(k.as_str()),
                Seg::Index(_) => None,
            })
            .unwrap_or("value")
    }

    fn parent(&self) -> Option<Self> {
        let mut p = self.clone();
        p.0.pop().map(|_| p)
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Line and column (1-based) of the node at `path`, or `None` when there is none.
pub fn locate(source: &str, path: &YamlPath) -> Option<(usize, usize)> {
    let err = match deserialize_at::<Here>(source, path) {
        Ok(_) => return None,
        Err(err) => err,
    };
    // Only our own marker error means "found"; a YAML error means the path is not there.
    if !err.to_string().contains(HERE) {
        return None;
    }
    err.location().map(|l| (l.line(), l.column()))
}

/// Like [`locate`], falling back to the nearest enclosing node that exists, then 1:1.
pub fn locate_nearest(source: &str, path: &YamlPath) -> (usize, usize) {
    let mut p = Some(path.clone());
    while let Some(cur) = p {
        if let Some(pos) = locate(source, &cur) {
            return pos;
        }
        p = cur.parent();
    }
    (1, 1)
}

/// Deserializes a whole document. Enums are single-key maps (`flash: {...}`), not YAML tags.
pub fn from_str<T: DeserializeOwned>(source: &str) -> Result<T, yaml_serde::Error> {
    yaml_serde::with::singleton_map_recursive::deserialize(yaml_serde::Deserializer::from_str(
        source,
    ))
}

/// Deserializes only the node at `path` (`Ok(None)` if there is none), so that a
/// parse error inside it keeps its exact position and its siblings' errors don't hide it.
pub fn deserialize_at<T: DeserializeOwned>(
    source: &str,
    path: &YamlPath,
) -> Result<Option<T>, yaml_serde::Error> {
    let de = yaml_serde::Deserializer::from_str(source);
    At::<T> {
        path: &path.0,
        _t: PhantomData,
    }
    .deserialize(de)
}

const HERE: &str = "\u{1}otarig-locate\u{1}";

/// Fails at whatever node it is asked to read, so the error carries that node's mark.
struct Here;

impl<'de> de::Deserialize<'de> for Here {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fail;
        impl<'de> Visitor<'de> for Fail {
            type Value = Here;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(HERE)
            }
        }
        d.deserialize_any(Fail)
    }
}

struct At<'p, T> {
    path: &'p [Seg],
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for At<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.path.is_empty() {
            return yaml_serde::with::singleton_map_recursive::deserialize(d).map(Some);
        }
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for At<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (want, rest) = self.path.split_first().expect("non-empty path");
        let mut found = None;
        while let Some(key) = map.next_key::<yaml_serde::Value>()? {
            let hit = matches!(want, Seg::Key(k) if key.as_str() == Some(k.as_str()));
            if hit && found.is_none() {
                found = map.next_value_seed(At::<T> {
                    path: rest,
                    _t: PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (want, rest) = self.path.split_first().expect("non-empty path");
        let Seg::Index(want) = *want else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut i = 0;
        let mut found = None;
        loop {
            if i == want {
                match seq.next_element_seed(At::<T> {
                    path: rest,
                    _t: PhantomData,
                })? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    // Scalars have no children: the path does not exist.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        // A tagged node (`!tag value`): not part of our formats; skip it.
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        de::VariantAccess::newtype_variant::<IgnoredAny>(variant)?;
        Ok(None)
    }
}

/// One configuration file's text, and where diagnostics about it go.
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        std::fs::read_to_string(path)
            .map(|text| SourceFile {
                path: path.to_path_buf(),
                text,
            })
            .map_err(|e| Diagnostic::error(path, 1, 1, format!("cannot read the file: {e}")))
    }

    /// The diagnostic for a yaml_serde error, at its mark (1:1 when it has none).
    pub fn yaml_error(&self, err: &yaml_serde::Error) -> Diagnostic {
        let (line, column) = err
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        Diagnostic::error(&self.path, line, column, strip_marks(&err.to_string()))
    }
}

/// Removes yaml_serde's ` at line L column C` (the diagnostic carries the position).
pub fn strip_marks(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + " at line ".len()..];
        let skip = tail
            .find(|c: char| !(c.is_ascii_digit() || c == ' ' || "column".contains(c)))
            .unwrap_or(tail.len());
        rest = &tail[skip..];
    }
    out.push_str(rest);
    out
}

/// Collects diagnostics about one file, positioned by path.
pub struct Ctx<'a> {
    pub file: &'a SourceFile,
    pub diags: &'a mut Diagnostics,
    /// Where every node is (`None` only if libyaml and yaml_serde disagree on the syntax).
    index: Option<YamlIndex>,
}

impl<'a> Ctx<'a> {
    /// Reads the file's YAML once: `None`, with the error in `diags`, when it is not YAML
    /// (yaml_serde's message and mark) or is nested deeper than any configuration file.
    pub fn open(file: &'a SourceFile, diags: &'a mut Diagnostics) -> Option<Self> {
        let index = match YamlIndex::build(&file.text) {
            Ok(index) => Some(index),
            Err(e @ IndexError::TooDeep { line, column }) => {
                diags.push(Diagnostic::error(&file.path, line, column, e.message()));
                return None;
            }
            Err(IndexError::Syntax) => None,
        };
        // yaml_serde's reading too: it says why a text is not YAML, and refuses what the
        // events alone allow (a second document).
        if let Err(e) = yaml_serde::from_str::<yaml_serde::Value>(&file.text) {
            diags.push(file.yaml_error(&e));
            return None;
        }
        Some(Ctx { file, diags, index })
    }

    pub fn error(&mut self, path: &YamlPath, message: impl Into<String>) {
        self.report(path, Severity::Error, message.into());
    }

    pub fn warning(&mut self, path: &YamlPath, message: impl Into<String>) {
        self.report(path, Severity::Warning, message.into());
    }

    fn report(&mut self, path: &YamlPath, severity: Severity, message: String) {
        let (line, column) = self.locate_nearest(path);
        self.diags.push(Diagnostic {
            file: self.file.path.clone(),
            line,
            column,
            severity,
            message,
        });
    }

    pub fn yaml_error(&mut self, err: &yaml_serde::Error) {
        let d = self.file.yaml_error(err);
        self.diags.push(d);
    }

    /// An error found deserializing one node ([`Ctx::deserialize_at`]).
    pub fn node_error(&mut self, err: NodeError) {
        self.diags.push(Diagnostic::error(
            &self.file.path,
            err.line,
            err.column,
            err.message,
        ));
    }

    /// See [`locate`].
    pub fn locate(&self, path: &YamlPath) -> Option<(usize, usize)> {
        match &self.index {
            Some(index) => index.locate(path),
            None => locate(&self.file.text, path),
        }
    }

    /// See [`locate_nearest`].
    pub fn locate_nearest(&self, path: &YamlPath) -> (usize, usize) {
        match &self.index {
            Some(index) => index.locate_nearest(path),
            None => locate_nearest(&self.file.text, path),
        }
    }

    /// The keys of the map at `path`, in order (empty when it is not a map).
    pub fn map_keys(&self, path: &YamlPath) -> Vec<String> {
        match &self.index {
            Some(index) => index.map_keys(path).unwrap_or_default(),
            None => deserialize_at::<yaml_serde::Mapping>(&self.file.text, path)
                .ok()
                .flatten()
                .map(|map| {
                    map.keys()
                        .map(|k| k.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// How many elements the sequence at `path` has (0 when it is not a sequence).
    pub fn seq_len(&self, path: &YamlPath) -> usize {
        match &self.index {
            Some(index) => index.seq_len(path),
            None => deserialize_at::<Vec<IgnoredAny>>(&self.file.text, path)
                .ok()
                .flatten()
                .map_or(0, |v| v.len()),
        }
    }

    /// Deserializes only the node at `path` (`Ok(None)` if there is none), in time
    /// proportional to the node, with errors at their positions in the file.
    pub fn deserialize_at<T: DeserializeOwned>(
        &self,
        path: &YamlPath,
    ) -> Result<Option<T>, NodeError> {
        let text = &self.file.text;
        match &self.index {
            Some(index) => index.deserialize_at(text, path),
            None => deserialize_at(text, path).map_err(|e| {
                let d = self.file.yaml_error(&e);
                NodeError {
                    line: d.line,
                    column: d.column,
                    message: d.message,
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: x\nsteps:\n  - flash: { boards: all, image: app-v4 }\n  - expect:\n      board: thing1\n      console: 'a['\n";

    fn at(path: YamlPath) -> Option<(usize, usize)> {
        locate(DOC, &path)
    }

    #[test]
    fn locates_block_and_flow_values() {
        let steps = YamlPath::root().key("steps");
        assert_eq!(at(YamlPath::root().key("name")), Some((1, 7)));
        assert_eq!(at(steps.idx(0).key("flash").key("image")), Some((3, 34)));
        assert_eq!(at(steps.idx(1).key("expect").key("console")), Some((6, 16)));
        assert_eq!(at(steps.idx(1)), Some((4, 5)));
    }

    #[test]
    fn missing_paths_are_none_and_nearest_falls_back() {
        let p = YamlPath::root().key("steps").idx(7).key("x");
        assert_eq!(at(p.clone()), None);
        assert_eq!(locate_nearest(DOC, &p), (3, 3)); // the sequence starts at its first `-`
        assert_eq!(at(YamlPath::root().key("name").key("deeper")), None);
    }

    #[test]
    fn deserialize_at_keeps_inner_positions() {
        let p = YamlPath::root()
            .key("steps")
            .idx(1)
            .key("expect")
            .key("board");
        let err = deserialize_at::<u32>(DOC, &p).unwrap_err();
        let loc = err.location().unwrap();
        assert_eq!((loc.line(), loc.column()), (5, 14));
    }

    #[test]
    fn strips_marks_from_messages() {
        assert_eq!(
            strip_marks("steps[0]: unknown variant `x` at line 3 column 5"),
            "steps[0]: unknown variant `x`"
        );
    }
}

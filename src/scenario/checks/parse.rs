//! Which kind an `expect` map asks for, from its keys: exactly one, with only its own
//! modifiers and its window; keys no kind reads are refused in serde's words. The kind's
//! own values are then read by its [`Spec::parse`].

use std::sync::LazyLock;
use std::time::Duration;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;

use super::{Check, KINDS};
use crate::config::expect_check::COMMON_KEYS;
use crate::config::values::bounds;
use crate::config::CheckCx;

/// How a kind is written in an `expect` map, and read from it.
pub struct Spec {
    /// The key that asks for it: `console: REGEX`.
    pub key: &'static str,
    /// Every key it reads, its own first: the fields of its serde struct ([`fields`]).
    pub fields: fn() -> &'static [&'static str],
    pub window: Window,
    /// For messages about a modifier given to another kind: "job status".
    pub noun: &'static str,
    /// How it is written, for the same messages: "`job: FAILED`".
    pub example: &'static str,
    /// Reads its keys into a [`Check`]; `None` only with an error reported in `cx`.
    pub parse: fn(&mut CheckCx<'_, '_>) -> Option<Check>,
}

/// The time an expectation is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// `within: DURATION`: a deadline; the check ends as soon as it is decided.
    Within,
    /// `for: DURATION`: the check forbids something, and holds once the window has passed
    /// without it. `meaning` says what the window is, for the message when it is missing.
    For { meaning: &'static str },
}

/// The keys a serde struct reads, as written in YAML (renames applied), so a kind
/// declares its keys once: in the struct it reads them into.
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut probe = FieldsProbe(None);
    // Fails on purpose once the struct has named its fields.
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

struct FieldsProbe(Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for &mut FieldsProbe {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(de::Error::custom("fields read"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Every key an `expect` map may have, in the order messages list them.
static KNOWN: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys: Vec<&'static str> = vec!["board", "boards"];
    for spec in &KINDS {
        for key in (spec.fields)() {
            if !keys.contains(key) {
                keys.push(key);
            }
        }
    }
    keys.extend(["within", "for"]);
    debug_assert!(COMMON_KEYS.iter().all(|k| keys.contains(k)));
    keys
});

/// An `expect` map read only to refuse its first unknown key, at that key, in serde's
/// words (`unknown field `consle`, expected one of …`), as a struct with
/// `deny_unknown_fields` would.
struct KnownKeys;

impl<'de> de::Deserialize<'de> for KnownKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Map;
        impl<'de> Visitor<'de> for Map {
            type Value = KnownKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an expect map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KnownKeys, A::Error> {
                while map.next_key_seed(Key)?.is_some() {
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(KnownKeys)
            }
        }
        struct Key;
        impl<'de> DeserializeSeed<'de> for Key {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_identifier(self)
            }
        }
        impl Visitor<'_> for Key {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key of an expect map")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
                if KNOWN.contains(&key) {
                    Ok(())
                } else {
                    Err(E::unknown_field(key, KNOWN.as_slice()))
                }
            }
        }
        d.deserialize_map(Map)
    }
}

/// The check of one `expect` map and its window.
pub fn parse(cx: &mut CheckCx<'_, '_>) -> Option<(Check, Duration)> {
    if cx.keys().iter().any(|k| !KNOWN.contains(&k.as_str())) {
        if cx.read::<KnownKeys>().is_some() {
            // The index saw a key serde reads differently (not a plain scalar).
            let at = cx.at().clone();
            cx.error(
                &at,
                format!("expect has a key that is not one of {}", KNOWN.join(", ")),
            );
        }
        return None;
    }
    let spec = kind(cx)?;
    modifiers(cx, spec);
    let window = window(cx, spec);
    let check = (spec.parse)(cx);
    Some((check?, window?))
}

/// Exactly one kind. A kind's key that the other kind asked for reads (`job` beside
/// `progress` names the job of the progress) is not a check of its own.
fn kind(cx: &mut CheckCx<'_, '_>) -> Option<&'static Spec> {
    let present = |key: &str| cx.keys().iter().any(|k| k == key);
    let asked: Vec<&'static Spec> = KINDS.iter().filter(|s| present(s.key)).collect();
    let kinds: Vec<&'static Spec> = asked
        .iter()
        .copied()
        .filter(|s| {
            !asked
                .iter()
                .any(|other| other.key != s.key && (other.fields)().contains(&s.key))
        })
        .collect();
    if let [spec] = kinds[..] {
        return Some(spec);
    }
    let message = if kinds.is_empty() {
        let all: Vec<&str> = KINDS.iter().map(|s| s.key).collect();
        format!("expect needs one check: {}", all.join(", "))
    } else {
        let found: Vec<&str> = kinds.iter().map(|s| s.key).collect();
        format!(
            "expect takes one check, found {}: split it into several expect steps",
            found.join(", ")
        )
    };
    let at = cx.at().clone();
    cx.error(&at, message);
    None
}

/// Every other key must be one the kind reads (`of`, `reason`), or common to all.
fn modifiers(cx: &mut CheckCx<'_, '_>, spec: &Spec) {
    let own = (spec.fields)();
    let foreign: Vec<String> = cx
        .keys()
        .iter()
        .filter(|k| !COMMON_KEYS.contains(&k.as_str()) && !own.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in foreign {
        let owners: Vec<&Spec> = KINDS
            .iter()
            .filter(|s| (s.fields)().contains(&key.as_str()))
            .collect();
        let nouns: Vec<&str> = owners.iter().map(|s| s.noun).collect();
        let examples: Vec<&str> = owners.iter().map(|s| s.example).collect();
        let at = cx.key(&key);
        cx.error(
            &at,
            format!(
                "`{key}` only applies to a {} check ({})",
                nouns.join(" or "),
                examples.join(", ")
            ),
        );
    }
}

/// The deadline, or the window of a check that forbids something.
fn window(cx: &mut CheckCx<'_, '_>, spec: &Spec) -> Option<Duration> {
    let within = cx.within().map(str::to_string);
    let for_ = cx.for_window().map(str::to_string);
    match spec.window {
        Window::For { meaning } => {
            if within.is_some() {
                let at = cx.key("within");
                cx.error(
                    &at,
                    format!(
                        "`{}` takes a window `for: DURATION`, not `within`",
                        spec.key
                    ),
                );
            }
            match for_ {
                Some(f) => cx.duration(&cx.key("for"), &f, bounds::EXPECT_FOR),
                None if within.is_some() => None,
                None => {
                    let at = cx.at().clone();
                    cx.error(
                        &at,
                        format!("`{}` needs `for: DURATION`, {meaning}", spec.key),
                    );
                    None
                }
            }
        }
        Window::Within => {
            if for_.is_some() {
                let takers: Vec<String> = KINDS
                    .iter()
                    .filter(|s| matches!(s.window, Window::For { .. }))
                    .map(|s| format!("`{}`", s.key))
                    .collect();
                let at = cx.key("for");
                cx.error(
                    &at,
                    format!(
                        "`for` only applies to {}; use `within: DURATION`",
                        takers.join(" or ")
                    ),
                );
            }
            match within {
                Some(w) => cx.duration(&cx.key("within"), &w, bounds::EXPECT_WITHIN),
                None => {
                    let at = cx.at().clone();
                    cx.error(&at, "expect needs a deadline `within: DURATION`");
                    None
                }
            }
        }
    }
}

//! A small order-preserving JSON tree with raw text spans. The agents' parsers
//! (jsmn in v1, coreJSON in v3) work on the raw document: key order, raw value
//! text (`["MQTT"]`) and string contents without unescaping all show up in their
//! log lines, so serde_json's normalised values would not do.

/// jsmn token types, numbered as jsmn numbers them (they appear in v1 log lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Object = 1,
    Array = 2,
    String = 3,
    Primitive = 4,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// Raw text: for strings the contents between the quotes, else the whole value.
    pub raw: String,
    /// Object members in document order (empty for other kinds).
    pub members: Vec<(String, Node)>,
    /// Array items (empty for other kinds).
    pub items: Vec<Node>,
}

impl Node {
    /// Number of jsmn tokens this value produces (keys count as tokens).
    pub fn token_count(&self) -> usize {
        1 + self
            .members
            .iter()
            .map(|(_, v)| 1 + v.token_count())
            .sum::<usize>()
            + self.items.iter().map(Node::token_count).sum::<usize>()
    }

    /// The member `key` of an object, if any.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// coreJSON-style dotted path lookup (`execution.jobDocument.afr_ota`).
    pub fn path(&self, dotted: &str) -> Option<&Node> {
        dotted.split('.').try_fold(self, |node, key| node.get(key))
    }
}

/// Parses one JSON document; `None` when it is not valid JSON.
pub fn parse(text: &str) -> Option<Node> {
    let mut p = Parser {
        s: text.as_bytes(),
        src: text,
        i: 0,
    };
    p.ws();
    let node = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(node)
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        match *self.s.get(self.i)? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => {
                let raw = self.string()?;
                Some(leaf(Kind::String, raw))
            }
            _ => self.primitive(),
        }
    }

    fn object(&mut self, depth: usize) -> Option<Node> {
        let start = self.i;
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if self.s.get(self.i) != Some(&b'"') {
                    return None;
                }
                let key = self.string()?;
                self.ws();
                if self.s.get(self.i) != Some(&b':') {
                    return None;
                }
                self.i += 1;
                self.ws();
                let v = self.value(depth + 1)?;
                members.push((key, v));
                self.ws();
                match self.s.get(self.i)? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        Some(Node {
            kind: Kind::Object,
            raw: self.src[start..self.i].to_string(),
            members,
            items: Vec::new(),
        })
    }

    fn array(&mut self, depth: usize) -> Option<Node> {
        let start = self.i;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                items.push(self.value(depth + 1)?);
                self.ws();
                match self.s.get(self.i)? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        Some(Node {
            kind: Kind::Array,
            raw: self.src[start..self.i].to_string(),
            members: Vec::new(),
            items,
        })
    }

    /// A string token; returns its raw contents (escapes kept as written).
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'"' => {
                    let raw = self.src.get(start..self.i)?.to_string();
                    self.i += 1;
                    return Some(raw);
                }
                b'\\' => self.i += 2,
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        None
    }

    fn primitive(&mut self) -> Option<Node> {
        let start = self.i;
        while self.i < self.s.len()
            && !matches!(
                self.s[self.i],
                b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'
            )
        {
            self.i += 1;
        }
        let raw = &self.src[start..self.i];
        let valid =
            matches!(raw, "true" | "false" | "null") || serde_json::from_str::<f64>(raw).is_ok();
        valid.then(|| leaf(Kind::Primitive, raw.to_string()))
    }
}

fn leaf(kind: Kind, raw: String) -> Node {
    Node {
        kind,
        raw,
        members: Vec::new(),
        items: Vec::new(),
    }
}

/// C `strtoul(s, &end, 0)` that must consume the whole text: decimal, `0x` hex
/// or leading-0 octal, wrapping like a 32-bit `unsigned long` cast.
pub fn strtoul0(text: &str) -> Option<u32> {
    let t = text.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    if digits.is_empty() {
        return None;
    }
    let v = u64::from_str_radix(digits, radix).ok()?;
    let v = v as u32;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// The leading unsigned integer of `text` as `strtoul(.., NULL, 10)` reads it (0 if none).
pub fn leading_uint(text: &str) -> u64 {
    text.trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .fold(0u64, |acc, c| {
            acc.saturating_mul(10)
                .saturating_add(u64::from(c as u8 - b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_document_order_and_raw_text() {
        let n = parse(r#"{"b":1,"a":{"p":["MQTT"],"s":"x\"y"}}"#).unwrap();
        let keys: Vec<_> = n.members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(n.path("a.p").unwrap().raw, r#"["MQTT"]"#);
        assert_eq!(n.path("a.s").unwrap().raw, r#"x\"y"#);
        assert_eq!(n.token_count(), 10);
    }

    #[test]
    fn parse_rejects_broken_documents() {
        assert!(parse(r#"{"a":}"#).is_none());
        assert!(parse(r#"{"a":1"#).is_none());
        assert!(parse(r#"{"a":1} x"#).is_none());
        assert!(parse(r#"{"a":tru}"#).is_none());
    }

    #[test]
    fn strtoul0_reads_hex_decimal_and_octal_whole_text_only() {
        assert_eq!(strtoul0("0x00090002"), Some(0x0009_0002));
        assert_eq!(strtoul0("589826"), Some(589_826));
        assert_eq!(strtoul0("010"), Some(8));
        assert_eq!(strtoul0("12ab"), None);
        assert_eq!(leading_uint("0:Thing1"), 0);
        assert_eq!(leading_uint("17:Thing1"), 17);
        assert_eq!(leading_uint(":Thing1"), 0);
    }
}

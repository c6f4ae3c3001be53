//! Which scenarios a `run` or `list` takes, after the paths: `--filter`, `--exclude` and
//! `--partition` (cargo-nextest's meanings, so CI recipes carry over).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::scenario::Scenario;

/// `--filter`, `--exclude` and `--partition`, applied in that order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Keep only scenarios that match (comma-separated alternatives).
    pub filter: Option<String>,
    /// Drop scenarios that match any of these.
    pub exclude: Vec<String>,
    /// Keep only this shard.
    pub partition: Option<Partition>,
}

impl Selection {
    /// Only a `--filter`.
    pub fn filter(pattern: &str) -> Self {
        Selection {
            filter: Some(pattern.to_string()),
            ..Self::default()
        }
    }

    /// The scenarios selected, in their order.
    pub fn apply<'a>(
        &self,
        scenarios: impl IntoIterator<Item = &'a Scenario>,
    ) -> Vec<&'a Scenario> {
        let kept: Vec<&Scenario> = scenarios
            .into_iter()
            .filter(|s| self.filter.as_deref().is_none_or(|f| matches(s, f)))
            .filter(|s| !self.exclude.iter().any(|x| matches(s, x)))
            .collect();
        match &self.partition {
            None => kept,
            Some(p) => kept
                .into_iter()
                .enumerate()
                .filter(|(i, s)| p.takes(*i, &s.name))
                .map(|(_, s)| s)
                .collect(),
        }
    }

    /// What was asked, for messages: `--filter power-* --exclude tag:slow`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = &self.filter {
            parts.push(format!("--filter {f}"));
        }
        for x in &self.exclude {
            parts.push(format!("--exclude {x}"));
        }
        if let Some(p) = &self.partition {
            parts.push(format!("--partition {p}"));
        }
        parts.join(" ")
    }
}

/// A pattern of `--filter` / `--exclude`: comma-separated alternatives; `tag:NAME`
/// matches a tag, anything else the name as a glob (`*`, `?`), or as a substring
/// without glob characters.
pub fn matches(scenario: &Scenario, pattern: &str) -> bool {
    pattern
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| {
            if let Some(tag) = p.strip_prefix("tag:") {
                scenario.tags.iter().any(|t| t == tag)
            } else if p.contains(['*', '?']) {
                glob(p, &scenario.name)
            } else {
                scenario.name.contains(p)
            }
        })
}

/// Whether the whole name matches the glob; `[`, `]`, `{` and `}` are plain
/// characters, as scenario names never need classes or alternatives.
fn glob(pattern: &str, name: &str) -> bool {
    let escaped = pattern
        .replace('[', "[[]")
        .replace('{', "[{]")
        .replace('}', "[}]");
    globset::Glob::new(&escaped).is_ok_and(|g| g.compile_matcher().is_match(name))
}

/// `--partition hash:K/N` or `count:K/N`: shard K (1-based) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub kind: PartitionKind,
    pub shard: u64,
    pub total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionKind {
    /// By a stable hash of the scenario's name: a scenario stays in its shard whatever
    /// else is added or removed.
    Hash,
    /// By position among the selected scenarios (sorted by file): even shard sizes.
    Count,
}

impl Partition {
    /// Whether the scenario at `index` (0-based, among those selected) named `name` is
    /// in this shard.
    pub fn takes(&self, index: usize, name: &str) -> bool {
        let slot = match self.kind {
            PartitionKind::Count => index as u64 % self.total,
            PartitionKind::Hash => name_hash(name) % self.total,
        };
        slot + 1 == self.shard
    }
}

/// The first 8 bytes of the name's SHA-256, big-endian: the same on every machine and
/// in every version, so a scenario's shard changes only when its name or N does.
pub fn name_hash(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || {
            format!("`{text}` is not a partition: write hash:K/N or count:K/N, shard K of N (1 ≤ K ≤ N), e.g. hash:1/4")
        };
        let (kind, rest) = text.split_once(':').ok_or_else(usage)?;
        let kind = match kind {
            "hash" => PartitionKind::Hash,
            "count" => PartitionKind::Count,
            _ => return Err(usage()),
        };
        let (k, n) = rest.split_once('/').ok_or_else(usage)?;
        let shard: u64 = k.trim().parse().map_err(|_| usage())?;
        let total: u64 = n.trim().parse().map_err(|_| usage())?;
        if total == 0 || shard == 0 || shard > total {
            return Err(usage());
        }
        Ok(Partition { kind, shard, total })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            PartitionKind::Hash => "hash",
            PartitionKind::Count => "count",
        };
        write!(f, "{kind}:{}/{}", self.shard, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("power-*", "power-cut-mid-download"));
        assert!(glob("*-version", "same-version"));
        assert!(!glob("*-version", "version-x"));
        assert!(glob("a?c", "abc"));
        assert!(glob("a[1]*", "a[1]-b"), "brackets are plain characters");
        assert!(glob("*{x}", "y{x}"));
        // A pattern the old recursive matcher took exponential time on.
        let name = "a".repeat(40);
        assert!(!glob(&format!("{}b", "*a".repeat(20)), &name));
    }

    #[test]
    fn partitions_parse_as_nextest_writes_them() {
        let p: Partition = "hash:2/4".parse().unwrap();
        assert_eq!(
            p,
            Partition {
                kind: PartitionKind::Hash,
                shard: 2,
                total: 4
            }
        );
        assert_eq!(p.to_string(), "hash:2/4");
        assert_eq!("count:1/1".parse::<Partition>().unwrap().shard, 1);
        for bad in [
            "hash:0/4",
            "hash:5/4",
            "hash:1/0",
            "slice:1/2",
            "hash:1",
            "1/2",
            "hash:a/b",
        ] {
            let err = bad.parse::<Partition>().unwrap_err();
            assert!(err.contains("hash:K/N or count:K/N"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_name_hash_is_pinned() {
        // A change here moves scenarios between CI shards: never change it silently. The same as
        // `printf same-version | sha256sum | cut -c1-16`.
        assert_eq!(name_hash("same-version"), 0x49ea_cb2e_1fc8_6140);
    }

    #[test]
    fn every_index_lands_in_exactly_one_shard() {
        for kind in [PartitionKind::Hash, PartitionKind::Count] {
            for i in 0..50 {
                let name = format!("scenario-{i}");
                let shards: Vec<u64> = (1..=4)
                    .filter(|&k| {
                        Partition {
                            kind,
                            shard: k,
                            total: 4,
                        }
                        .takes(i, &name)
                    })
                    .collect();
                assert_eq!(shards.len(), 1, "{kind:?} {name}: {shards:?}");
            }
        }
    }
}

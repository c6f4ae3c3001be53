//! Binding a scenario's roles to rig boards, and why a scenario cannot run on a rig.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::rig::{Board, Rig};
use super::scenario::{Capability, Role, Scenario};

/// Why a scenario is skipped on a rig (not a failure: the rig cannot run it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    NotEnoughBoards {
        needed: usize,
        available: usize,
    },
    /// No unbound board meets this role's requirements.
    NoBoardForRole {
        role: String,
        thing_name: Option<String>,
        needs: Vec<Capability>,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotEnoughBoards { needed, available } => {
                write!(f, "needs {needed} boards, the rig has {available}")
            }
            SkipReason::NoBoardForRole {
                role,
                thing_name,
                needs,
            } => {
                write!(f, "no free board for role `{role}`")?;
                let mut wants = Vec::new();
                if let Some(t) = thing_name {
                    wants.push(format!("thing name {t}"));
                }
                for c in needs {
                    wants.push(format!("capability {c}"));
                }
                if !wants.is_empty() {
                    write!(f, " with {}", wants.join(" and "))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SkipReason {}

/// Role → board name. Roles that require a thing name are bound first, then the
/// rest; each takes the first unbound board in rig order that meets the role's
/// thing name and every capability in the scenario's `needs`.
pub fn bind_roles<C>(
    scenario: &Scenario<C>,
    rig: &Rig,
) -> Result<BTreeMap<String, String>, SkipReason> {
    bind_roles_sparing(scenario, rig, &BTreeSet::new())
}

/// As [`bind_roles`], but a role that names no thing takes a board of `spare`
/// only when no other board fits: boards whose thing names other scenarios need
/// stay free for them, so one scenario does not wait for another for nothing.
pub fn bind_roles_sparing<C>(
    scenario: &Scenario<C>,
    rig: &Rig,
    spare: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>, SkipReason> {
    if scenario.roles.len() > rig.boards.len() {
        return Err(SkipReason::NotEnoughBoards {
            needed: scenario.roles.len(),
            available: rig.boards.len(),
        });
    }
    let fits = |role: &Role, board: &Board| {
        role.thing_name
            .as_ref()
            .is_none_or(|t| *t == board.thing_name)
            && scenario.needs.iter().all(|c| board.has(*c))
    };
    let spared = |i: &usize| spare.contains(&rig.boards[*i].name);
    let mut taken = vec![false; rig.boards.len()];
    let mut out = BTreeMap::new();
    let ordered = scenario
        .roles
        .iter()
        .filter(|r| r.thing_name.is_some())
        .chain(scenario.roles.iter().filter(|r| r.thing_name.is_none()));
    for role in ordered {
        let all = 0..rig.boards.len();
        let mut candidates = all.clone().filter(|i| !spared(i)).chain(all.filter(spared));
        let Some(i) = candidates.find(|&i| !taken[i] && fits(role, &rig.boards[i])) else {
            return Err(SkipReason::NoBoardForRole {
                role: role.name.clone(),
                thing_name: role.thing_name.clone(),
                needs: scenario.needs.clone(),
            });
        };
        taken[i] = true;
        out.insert(role.name.clone(), rig.boards[i].name.clone());
    }
    Ok(out)
}

/// The fixture flashed before the scenario: its own `baseline`, else the rig's.
pub fn effective_baseline<'a, C>(scenario: &'a Scenario<C>, rig: &'a Rig) -> Option<&'a str> {
    scenario.baseline.as_deref().or(rig.baseline.as_deref())
}

//! One line per step, for the timeline and the progress display.

use crate::scenario::Step;

pub fn step_text(step: &Step) -> String {
    match step {
        Step::Flash { roles, image } => format!("flash {image} → {}", roles.join(", ")),
        Step::Expect(e) => format!(
            "expect {}: {}",
            e.roles.join(", "),
            e.check.describe(e.within)
        ),
        Step::Job(j) => {
            let faults = if j.faults.is_empty() {
                String::new()
            } else {
                format!(" with faults {:?}", j.faults)
            };
            format!(
                "job {} ({} → {}){faults}",
                j.id,
                j.image,
                j.targets.join(", ")
            )
        }
        Step::Cancel { job, force } => {
            format!("cancel {job}{}", if *force { " (force)" } else { "" })
        }
        Step::Retry { job, roles } => format!(
            "retry {job}{}",
            roles
                .as_ref()
                .map(|r| format!(" for {}", r.join(", ")))
                .unwrap_or_default()
        ),
        Step::Reset { roles } => format!("reset {}", roles.join(", ")),
        Step::PowerCycle { roles, off_for } => format!(
            "power cycle {} (off {})",
            roles.join(", "),
            humantime::format_duration(*off_for)
        ),
        Step::PowerCut(c) => format!("power cut {} ({:?})", c.role, c.at),
        Step::Kick { role } => format!("kick {role}"),
        Step::Link(l) => format!("link faults on {}: {} fault(s)", l.role, l.faults.len()),
        Step::BrokerRestart { down_for } => format!(
            "broker restart (down {})",
            humantime::format_duration(*down_for)
        ),
        Step::Wait(d) => format!("wait {}", humantime::format_duration(*d)),
        Step::Never(g) => format!("never: {} guard(s)", g.len()),
    }
}

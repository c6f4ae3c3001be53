//! The lab as the coordinator sees it, for `otarig doctor` and `otarig board list`: the
//! places each request could take, who holds them, and whether their resources would
//! make a board (a console, power where the rig wants it, a thing name).

use crate::config::labgrid::{BoardRequest, Labgrid, LabgridPower, THING_FROM_TAG, THING_TAG};
use crate::config::rig::Rig;

use super::client::{Client, QUICK};
use super::output::{self, Place, POWER_CLASSES};
use super::LabgridError;

/// Every place of the coordinator (`labgrid-client -v places`).
pub fn places(labgrid: &Labgrid) -> Result<Vec<Place>, LabgridError> {
    let client = Client::new(labgrid);
    let text = client.run_blocking(None, &["-v", "places"], QUICK)?;
    Ok(output::places(&text))
}

/// Who holds a place, in words.
pub fn holder(place: &Place) -> String {
    match (&place.acquired, &place.reservation) {
        (Some(who), _) => format!("held by {who}"),
        (None, Some(token)) => format!("free, reserved ({token})"),
        (None, None) => "free".into(),
    }
}

/// The places `request` could take.
pub fn matching<'p>(places: &'p [Place], request: &BoardRequest) -> Vec<&'p Place> {
    places.iter().filter(|p| p.matches(&request.tags)).collect()
}

/// Whether `place` would make a board of `request`: its resources (`show`), as a line
/// for the doctor's table, or what is missing.
pub fn check_place(
    labgrid: &Labgrid,
    rig: &Rig,
    request: &BoardRequest,
    place: &str,
) -> Result<String, String> {
    let client = Client::new(labgrid);
    let shown = client
        .run_blocking(Some(place), &["show"], QUICK)
        .map_err(|e| e.to_string())?;
    let Some(p) = output::places(&shown).into_iter().next() else {
        return Err(format!(
            "`{}` printed no place",
            client.line(Some(place), &["show"])
        ));
    };
    let mut problems = Vec::new();
    let serials: Vec<_> = p
        .resources
        .iter()
        .filter(|r| r.cls == "NetworkSerialPort")
        .filter(|r| request.console.as_ref().is_none_or(|c| &r.name == c))
        .collect();
    match serials.as_slice() {
        [] => problems.push(match &request.console {
            Some(c) => format!("no NetworkSerialPort named `{c}`"),
            None => "no NetworkSerialPort (export the board's serial port)".to_string(),
        }),
        [one] if !one.avail => problems.push(format!(
            "its NetworkSerialPort on exporter {} is not available (device unplugged, or ser2net missing there)",
            one.exporter
        )),
        [_] => {}
        _ => problems.push("several NetworkSerialPorts: name one with `console:`".into()),
    }
    let power = p
        .resources
        .iter()
        .find(|r| POWER_CLASSES.contains(&r.cls.as_str()));
    if request.power == LabgridPower::Labgrid && power.is_none() {
        problems.push("no power resource (or set `power: none`)".into());
    }
    let needs_thing_tag = request
        .boards
        .first()
        .and_then(|b| rig.board(b))
        .is_some_and(|b| b.thing_name == THING_FROM_TAG);
    if needs_thing_tag && !p.tags.contains_key(THING_TAG) {
        problems.push(format!("no `{THING_TAG}` tag (its board's thing name)"));
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut have: Vec<String> = serials
        .iter()
        .map(|r| format!("console {} on {}", r.name, r.exporter))
        .collect();
    if let Some(power) = power {
        have.push(format!("power {}", power.cls));
    }
    if let Some(thing) = p.tags.get(THING_TAG) {
        have.push(format!("thing {thing}"));
    }
    have.push(holder(&p));
    Ok(have.join(", "))
}

//! The preset tables in docs/hardware.md, rendered from [`PRESETS`]: the docs show
//! exactly the command lines the flasher builds. `OTARIG_BLESS=1 cargo test --lib
//! flash_presets_doc` rewrites the block between the markers.

use super::flash_presets::{placeholders, Arg, PresetSpec, Selector, PRESETS};

const BEGIN: &str = "<!-- presets:begin: generated from PRESETS in src/config/flash_presets.rs; `OTARIG_BLESS=1 cargo test --lib flash_presets_doc` rewrites it -->";
const END: &str = "<!-- presets:end -->";

/// One template as a shell would show it: quoted when it holds a space.
fn shown(template: &str) -> String {
    if template.contains(' ') {
        format!("\"{template}\"")
    } else {
        template.to_owned()
    }
}

/// Arguments as one line; optional groups in `[…]`.
fn line(args: &[Arg], quote: bool) -> String {
    let one = |t: &str| if quote { shown(t) } else { t.to_owned() };
    let words: Vec<String> = args
        .iter()
        .map(|arg| match *arg {
            Arg::Is(t) => one(t),
            Arg::Opt(group) => {
                let inner: Vec<String> = group.iter().map(|t| one(t)).collect();
                format!("[{}]", inner.join(" "))
            }
            Arg::Either(first, second) => match first.strip_prefix(second) {
                Some(extra) => format!("{} [{}]", one(second), extra.trim()),
                None => format!("{} | {}", one(first), one(second)),
            },
        })
        .collect();
    words.join(" ")
}

fn command(spec: &PresetSpec, args: &[Arg]) -> String {
    format!("`{} {}`", spec.program, line(args, true))
}

/// A command file's lines, each in its own code span.
fn script(lines: &[Arg]) -> String {
    let lines: Vec<String> = lines
        .iter()
        .map(|l| format!("`{}`", line(std::slice::from_ref(l), false)))
        .collect();
    format!("; `{{script}}`: {}", lines.join(", "))
}

fn commands_row(spec: &PresetSpec) -> String {
    let (load, unload) = match spec.script {
        Some((load, reset)) => (script(load), script(reset)),
        None => (String::new(), String::new()),
    };
    let reset = match spec.reset {
        None => format!("none: {} has no reset-only operation", spec.name),
        Some(args) if std::ptr::eq(args, spec.flash) => "the same command line".to_owned(),
        Some(args) => command(spec, args),
    };
    format!(
        "| `{}` | {}{load} | {reset}{unload} |\n",
        spec.name,
        command(spec, spec.flash)
    )
}

/// The optional group that picks one of several programmers, as the command line shows it.
fn selector(spec: &PresetSpec) -> String {
    let field = match spec.selector {
        Selector::Serial => "serial",
        Selector::Device => "device",
    };
    let group = spec.flash.iter().find(|a| {
        matches!(a, Arg::Opt(g) if g.iter().any(|t| placeholders(t).iter().any(|n| n == field)))
    });
    match group {
        Some(Arg::Opt(g)) => format!(
            "`{field}:` (`{}`)",
            g.iter().map(|t| shown(t)).collect::<Vec<_>>().join(" ")
        ),
        _ => format!("`{field}:`"),
    }
}

fn tool(spec: &PresetSpec) -> String {
    let t = &spec.tool;
    let Some(meaning) = t.meaning else {
        return "none: it finds its adapter itself, or the one `device:` names".to_owned();
    };
    let mut cell = meaning.to_owned();
    if !t.values.is_empty() {
        cell.push_str(&format!(": `{}`", t.values.join("`, `")));
    }
    match t.default {
        Some((pic32, other)) if pic32 == other => cell.push_str(&format!("; default `{pic32}`")),
        Some((pic32, other)) => cell.push_str(&format!(
            "; default `{pic32}` for PIC32, `{other}` otherwise"
        )),
        None => {}
    }
    for (value, why) in t.not_for_pic32 {
        cell.push_str(&format!("; not `{value}` on PIC32: {why}"));
    }
    cell
}

fn programs(spec: &PresetSpec) -> String {
    let families: Vec<&str> = spec.pic32.iter().map(|f| f.name()).collect();
    let mut cell = families.join(", ");
    if !spec.pic32_gap.is_empty() {
        cell.push_str(&format!(" ({})", spec.pic32_gap));
    }
    match spec.others {
        Some(others) => cell.push_str(&format!("; {others}")),
        None => cell.push_str(" only"),
    }
    cell
}

fn capabilities_row(spec: &PresetSpec) -> String {
    format!(
        "| `{}` | {} | {} | {} | {} | {}{} | {} |\n",
        spec.name,
        spec.part
            .unwrap_or("found by the tool; optional, checked against the families it programs"),
        tool(spec),
        selector(spec),
        programs(spec),
        spec.drives,
        if spec.drives_mplab {
            ""
        } else {
            "; not MPLAB's programmers (PKOB, PKOB4, PICkit 4, ICD …)"
        },
        spec.sources
    )
}

/// The whole block, markers included.
pub fn render() -> String {
    let mut out = format!("{BEGIN}\n| preset | flash | reset only |\n|---|---|---|\n");
    for spec in &PRESETS {
        out.push_str(&commands_row(spec));
    }
    out.push_str("\n| preset | `part:` | `tool:` | one of several attached, by | programs | drives | from |\n|---|---|---|---|---|---|---|\n");
    for spec in &PRESETS {
        out.push_str(&capabilities_row(spec));
    }
    out.push_str(END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn docs_hardware_md_shows_the_preset_table_the_code_builds() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/hardware.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
            panic!("docs/hardware.md has no `{BEGIN}` … `{END}` block");
        };
        let current = &text[begin..end + END.len()];
        let rendered = render();
        if current == rendered {
            return;
        }
        if std::env::var_os("OTARIG_BLESS").is_some_and(|v| v == "1") {
            let updated = format!("{}{rendered}{}", &text[..begin], &text[end + END.len()..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        panic!(
            "docs/hardware.md's preset tables differ from PRESETS in src/config/flash_presets.rs; \
             run `OTARIG_BLESS=1 cargo test --lib flash_presets_doc` to rewrite them.\n\
             expected:\n{rendered}\n\nfound:\n{current}"
        );
    }

    #[test]
    fn optional_arguments_show_in_brackets_and_spaces_in_quotes() {
        let spec = super::super::rig::FlashPreset::Openocd.spec();
        assert_eq!(
            command(spec, spec.flash),
            "`openocd -f interface/{tool}.cfg [-c \"adapter serial {serial}\"] -f target/{part}.cfg -c \"program {image} verify reset exit\"`"
        );
        let (load, _) = super::super::rig::FlashPreset::Jlink.spec().script.unwrap();
        assert_eq!(
            script(load),
            "; `{script}`: `loadfile \"{image}\" [{base}]`, `r`, `g`, `q`"
        );
    }
}

//! Exact text the agents put on the console and in job status payloads
//! (docs/protocol.md §4.6, §5), including the real v3 agent's number-printing quirk.

use crate::sim::pal::Pal;

/// `AppVersion32_t`: major<<24 | minor<<16 | build.
pub fn version32(v: (u8, u8, u16)) -> u32 {
    (u32::from(v.0) << 24) | (u32::from(v.1) << 16) | u32::from(v.2)
}

/// Splits an `AppVersion32_t` back into (major, minor, build).
pub fn split_version(v: u32) -> (u32, u32, u32) {
    (v >> 24, (v >> 16) & 0xff, v & 0xffff)
}

/// v3's `stringBuilderUInt32Decimal`: 0 prints as nothing (hence `":thing"`, `v.9.3`).
pub fn v3_decimal(n: u32) -> String {
    if n == 0 {
        String::new()
    } else {
        n.to_string()
    }
}

pub fn topic_next_get(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/$next/get")
}
pub fn topic_next_get_accepted(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/$next/get/accepted")
}
pub fn topic_notify_next(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/notify-next")
}
pub fn topic_job_update(thing: &str, job: &str) -> String {
    format!("$aws/things/{thing}/jobs/{job}/update")
}
pub fn topic_stream_data(thing: &str, stream: &str) -> String {
    format!("$aws/things/{thing}/streams/{stream}/data/cbor")
}
pub fn topic_stream_get(thing: &str, stream: &str) -> String {
    format!("$aws/things/{thing}/streams/{stream}/get/cbor")
}

pub fn status_receiving(received: u32, total: u32) -> String {
    format!(r#"{{"status":"IN_PROGRESS","statusDetails":{{"receive":"{received}/{total}"}}}}"#)
}

/// `self_test` ready/active; `version_hex` is already formatted (v1 `%x`, v3 8 digits).
pub fn status_self_test(phase: &str, version_hex: &str) -> String {
    format!(
        r#"{{"status":"IN_PROGRESS","statusDetails":{{"self_test":"{phase}","updatedBy":"0x{version_hex}"}}}}"#
    )
}

/// `rejected: 0x%08x` / `aborted: 0x%08x`.
pub fn status_failed_reason(word: &str, code: u32) -> String {
    format!(r#"{{"status":"FAILED","statusDetails":{{"reason":"{word}: 0x{code:08x}"}}}}"#)
}

/// `0x%08x: 0x%08x`.
pub fn status_failed_with_values(code: u32, sub: u32) -> String {
    format!(r#"{{"status":"FAILED","statusDetails":{{"reason":"0x{code:08x}: 0x{sub:08x}"}}}}"#)
}

pub fn status_succeeded_v1(version: u32) -> String {
    let (a, b, c) = split_version(version);
    format!(r#"{{"status":"SUCCEEDED","statusDetails":{{"reason":"accepted v{a}.{b}.{c}"}}}}"#)
}

pub fn status_succeeded_v3(new: u32, previous: u32) -> String {
    let v = |x: u32| {
        let (a, b, c) = split_version(x);
        format!("  v{}.{}.{}", v3_decimal(a), v3_decimal(b), v3_decimal(c))
    };
    format!(
        r#"{{"status":"SUCCEEDED","statusDetails":{{"reason":"accepted{}","updatedBy":"{}"}}}}"#,
        v(new),
        v(previous)
    )
}

/// A v1 line without the `<msgNo> <tick> ` prefix (the runtime adds it).
pub fn v1(pal: &mut dyn Pal, task: &str, text: &str) {
    pal.log(&format!("[{task}] {text}"));
}

/// A v3 line as the POSIX build prints it.
pub fn v3(pal: &mut dyn Pal, level: &str, file: &str, line: u32, text: &str) {
    pal.log(&format!("[{level}] [OTA] [{file}:{line}] {text}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_succeeded_drops_zero_fields_like_the_real_agent() {
        let s = status_succeeded_v3(version32((0, 9, 3)), version32((0, 9, 2)));
        assert_eq!(
            s,
            r#"{"status":"SUCCEEDED","statusDetails":{"reason":"accepted  v.9.3","updatedBy":"  v.9.2"}}"#
        );
        let s = status_succeeded_v3(version32((1, 0, 3)), version32((1, 2, 0)));
        assert!(
            s.contains(r#""accepted  v1..3""#) && s.contains(r#""  v1.2.""#),
            "{s}"
        );
    }

    #[test]
    fn v1_payloads_have_no_spaces_and_short_hex() {
        assert_eq!(
            status_self_test("ready", &format!("{:x}", version32((0, 9, 4)))),
            r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"ready","updatedBy":"0x90004"}}"#
        );
        assert_eq!(
            status_succeeded_v1(version32((0, 9, 5))),
            r#"{"status":"SUCCEEDED","statusDetails":{"reason":"accepted v0.9.5"}}"#
        );
        assert_eq!(
            status_failed_with_values(0x0100_0000, 0xffff_fffe),
            r#"{"status":"FAILED","statusDetails":{"reason":"0x01000000: 0xfffffffe"}}"#
        );
    }
}

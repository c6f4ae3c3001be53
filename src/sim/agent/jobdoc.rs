//! The two job document parsers (docs/protocol.md §2.1, §2.2), with the log lines
//! each prints while parsing. v1 searches key names anywhere (jsmn, 16-param
//! model, type checks); v3 looks up dotted paths (coreJSON, 21-param model).

use base64::Engine as _;

use super::json::{self, Kind, Node};
use super::logs;
use crate::sim::pal::Pal;

/// The PAL's signature key (PIC32MZ and POSIX PALs both use this one).
pub const SIG_KEY: &str = "sig-sha256-ecdsa";

/// What a parser extracted, whether or not the document was complete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFields {
    pub client_token: Option<String>,
    pub job_id: Option<String>,
    pub self_test: bool,
    pub updated_by: u32,
    pub stream: Option<String>,
    pub protocols: Option<String>,
    pub filepath: Option<String>,
    pub filesize: u32,
    pub fileid: u32,
    pub certfile: Option<String>,
    pub signature: Option<Vec<u8>>,
    pub file_type: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Param {
    /// Presence only (objects, arrays the agent does not keep).
    Object,
    Array,
    Str,
    UInt,
    Sig,
    Ident,
}

const V1_TASK: &str = "OTA Task";
/// jsmn token budget of the 1.0.x agent (`OTA_MAX_JSON_TOKENS`).
const V1_MAX_TOKENS: usize = 64;
const V1_MAX_SIG: usize = 256;
const V3_MAX_SIG: usize = 384;

/// v1 model, in model order: (key, required, type).
const V1_MODEL: [(&str, bool, Param); 16] = [
    ("clientToken", false, Param::Str),
    ("execution", true, Param::Object),
    ("jobId", true, Param::Str),
    ("statusDetails", false, Param::Object),
    ("self_test", false, Param::Ident),
    ("updatedBy", false, Param::UInt),
    ("jobDocument", true, Param::Object),
    ("afr_ota", true, Param::Object),
    ("streamname", true, Param::Str),
    ("files", true, Param::Array),
    ("filepath", true, Param::Str),
    ("filesize", true, Param::UInt),
    ("fileid", true, Param::UInt),
    ("certfile", true, Param::Str),
    (SIG_KEY, true, Param::Sig),
    ("attr", false, Param::UInt),
];

fn v1_log(pal: &mut dyn Pal, text: &str) {
    logs::v1(pal, V1_TASK, &format!("[prvParseJSONbyModel] {text}"));
}

/// `prvParseJSONbyModel` of the 1.0.x agent. Returns the fields and whether the
/// document passed (all required keys, right types, no duplicates).
pub fn parse_v1(pal: &mut dyn Pal, payload: &[u8]) -> (JobFields, bool) {
    let mut f = JobFields::default();
    let Some(root) = std::str::from_utf8(payload).ok().and_then(json::parse) else {
        v1_log(pal, "Error (-2) parsing JSON document.");
        return (f, false);
    };
    if root.token_count() > V1_MAX_TOKENS {
        v1_log(pal, "Error (-1) parsing JSON document.");
        return (f, false);
    }
    let mut seen = [false; 16];
    let mut pairs = Vec::new();
    v1_walk(&root, &mut pairs);
    for (key, node) in pairs {
        let Some(idx) = V1_MODEL.iter().position(|(k, _, _)| *k == key) else {
            continue;
        };
        if seen[idx] {
            // DuplicatesNotAllowed: the parse stops here.
            return (f, false);
        }
        seen[idx] = true;
        let (_, _, ty) = V1_MODEL[idx];
        let expected = match ty {
            Param::Object => Some(Kind::Object),
            Param::Array => Some(Kind::Array),
            Param::Str | Param::Sig => Some(Kind::String),
            Param::UInt if node.kind == Kind::String => None,
            Param::UInt => Some(Kind::Primitive),
            Param::Ident => None,
        };
        if let Some(exp) = expected.filter(|e| *e != node.kind) {
            v1_log(
                pal,
                &format!(
                    "parameter type mismatch [ {key} : {} ] type {}, expected {}",
                    node.raw, node.kind as u8, exp as u8
                ),
            );
            return (f, false);
        }
        match ty {
            Param::Object | Param::Array => {}
            Param::Ident => {
                v1_log(pal, &format!("Identified parameter [ {key} ]"));
                f.self_test = true;
            }
            Param::Str => {
                v1_log(pal, &format!("Extracted parameter [ {key}: {} ]", node.raw));
                let v = Some(node.raw.clone());
                match key {
                    "clientToken" => f.client_token = v,
                    "jobId" => f.job_id = v,
                    "streamname" => f.stream = v,
                    "filepath" => f.filepath = v,
                    _ => f.certfile = v,
                }
            }
            Param::UInt => {
                let Some(n) = json::strtoul0(&node.raw) else {
                    return (f, false);
                };
                v1_log(pal, &format!("Extracted parameter [ {key}: {n} ]"));
                match key {
                    "updatedBy" => f.updated_by = n,
                    "filesize" => f.filesize = n,
                    "fileid" => f.fileid = n,
                    _ => {}
                }
            }
            Param::Sig => match decode_sig(&node.raw, V1_MAX_SIG) {
                Some(sig) => {
                    let head: String = node.raw.chars().take(32).collect();
                    v1_log(pal, &format!("Extracted parameter [ {key}: {head}... ]"));
                    f.signature = Some(sig);
                }
                None => {
                    v1_log(pal, "mbedtls_base64_decode failed.");
                    return (f, false);
                }
            },
        }
    }
    let mut complete = true;
    for (i, (key, required, _)) in V1_MODEL.iter().enumerate() {
        if *required && !seen[i] {
            v1_log(pal, &format!("parameter not present: {key}"));
            complete = false;
        }
    }
    (f, complete)
}

/// jsmn's walk as the 1.0.x parser uses it: keys anywhere, but the subtree of a
/// key that is not in the model is skipped.
fn v1_walk<'a>(node: &'a Node, out: &mut Vec<(&'a str, &'a Node)>) {
    for (k, v) in &node.members {
        out.push((k.as_str(), v));
        if V1_MODEL.iter().any(|(m, _, _)| m == k) {
            v1_walk(v, out);
        }
    }
    for item in &node.items {
        v1_walk(item, out);
    }
}

fn decode_sig(b64: &str, max: usize) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|s| s.len() <= max)
}

/// v3 model: (dotted key, required, type). `files` is the nested file group.
const V3_MODEL: [(&str, bool, Param); 21] = [
    ("clientToken", false, Param::Object),
    ("timestamp", false, Param::Object),
    ("execution", true, Param::Object),
    ("execution.jobId", true, Param::Str),
    ("execution.statusDetails", false, Param::Object),
    ("execution.statusDetails.self_test", false, Param::Ident),
    ("execution.statusDetails.updatedBy", false, Param::UInt),
    ("execution.jobDocument", true, Param::Object),
    ("execution.jobDocument.afr_ota", true, Param::Object),
    (
        "execution.jobDocument.afr_ota.streamname",
        false,
        Param::Str,
    ),
    ("execution.jobDocument.afr_ota.protocols", true, Param::Str),
    ("execution.jobDocument.afr_ota.files", true, Param::Array),
    ("filepath", false, Param::Str),
    ("filesize", true, Param::UInt),
    ("fileid", true, Param::UInt),
    ("certfile", false, Param::Str),
    ("update_data_url", false, Param::Str),
    ("auth_scheme", false, Param::Str),
    (SIG_KEY, false, Param::Sig),
    ("attr", false, Param::UInt),
    ("fileType", false, Param::UInt),
];

/// `parseJSONbyModel` of the v3 library. Returns the fields and whether every
/// required parameter was found and extracted.
pub fn parse_v3(pal: &mut dyn Pal, payload: &[u8]) -> (JobFields, bool) {
    let mut f = JobFields::default();
    let Some(root) = std::str::from_utf8(payload).ok().and_then(json::parse) else {
        logs::v3(
            pal,
            "ERROR",
            "ota.c",
            1539,
            "Invalid JSON document: JSON_Validate returned error: JSONStatus_t=2",
        );
        return (f, false);
    };
    let mut files: Option<&Node> = None;
    let mut found = [false; 21];
    for (i, (key, _, ty)) in V3_MODEL.iter().enumerate() {
        let hit = root.path(key).or_else(|| files.and_then(|n| n.get(key)));
        let Some(node) = hit else { continue };
        found[i] = true;
        match ty {
            Param::Object | Param::Ident => {
                if *ty == Param::Ident {
                    f.self_test = true;
                }
                if *key == "clientToken" {
                    f.client_token = Some(node.raw.clone());
                }
            }
            Param::Array => files = node.items.first().filter(|n| n.kind == Kind::Object),
            Param::Str => {
                logs::v3(
                    pal,
                    "INFO",
                    "ota.c",
                    1678,
                    &format!("Extracted parameter: [key: value]=[{key}: {}]", node.raw),
                );
                let v = Some(node.raw.clone());
                match *key {
                    "execution.jobId" => f.job_id = v,
                    "execution.jobDocument.afr_ota.streamname" => f.stream = v,
                    "execution.jobDocument.afr_ota.protocols" => f.protocols = v,
                    "filepath" => f.filepath = v,
                    "certfile" => f.certfile = v,
                    _ => {}
                }
            }
            Param::UInt => {
                let Some(n) = json::strtoul0(&node.raw) else {
                    return (f, false);
                };
                logs::v3(
                    pal,
                    "INFO",
                    "ota.c",
                    1719,
                    &format!("Extracted parameter: [key: value]=[{key}: {n}]"),
                );
                match *key {
                    "execution.statusDetails.updatedBy" => f.updated_by = n,
                    "filesize" => f.filesize = n,
                    "fileid" => f.fileid = n,
                    "fileType" => f.file_type = n,
                    _ => {}
                }
            }
            Param::Sig => match decode_sig(&node.raw, V3_MAX_SIG) {
                Some(sig) => {
                    let head: String = node.raw.chars().take(32).collect();
                    logs::v3(
                        pal,
                        "INFO",
                        "ota.c",
                        1609,
                        &format!("Extracted parameter [ {SIG_KEY}: {head}... ]"),
                    );
                    f.signature = Some(sig);
                }
                None => {
                    logs::v3(
                        pal,
                        "ERROR",
                        "ota.c",
                        1591,
                        "Failed to decode Base64 data: base64Decode returned error: error=1",
                    );
                    return (f, false);
                }
            },
        }
    }
    let complete = V3_MODEL
        .iter()
        .zip(found)
        .all(|((_, req, _), got)| !req || got);
    (f, complete)
}

/// v3 `handleCustomJob` test: does the document carry a job at all?
pub fn v3_has_job(payload: &[u8]) -> Option<String> {
    let root = json::parse(std::str::from_utf8(payload).ok()?)?;
    root.path("execution.jobDocument")?;
    let id = root.path("execution.jobId")?;
    (!id.raw.is_empty()).then(|| id.raw.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::agent::testpal::FakePal;

    const DOC: &str = r#"{"clientToken":"0:Thing1","timestamp":1700000000,"execution":{"jobId":"job-1","status":"QUEUED","statusDetails":{"self_test":"ready","updatedBy":"0x90004"},"queuedAt":1,"lastUpdatedAt":1,"versionNumber":1,"executionNumber":1,"jobDocument":{"afr_ota":{"protocols":["MQTT"],"streamname":"s1","files":[{"filepath":"app.bin","filesize":10000,"fileid":0,"certfile":"signer.crt","sig-sha256-ecdsa":"MEQCIGV5JGdEO+Jw6pzrmXpnGFW/8FrlAAAAAAAAAAAAAAAAAiB1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}]}}}}"#;

    #[test]
    fn v1_extracts_in_document_order_and_prints_updated_by_in_decimal() {
        let mut pal = FakePal::default();
        let (f, ok) = parse_v1(&mut pal, DOC.as_bytes());
        assert!(ok, "{:?}", pal.lines);
        assert_eq!(f.updated_by, 0x90004);
        assert!(f.self_test);
        assert_eq!(
            pal.lines[0],
            "[OTA Task] [prvParseJSONbyModel] Extracted parameter [ clientToken: 0:Thing1 ]"
        );
        assert_eq!(
            pal.lines[1],
            "[OTA Task] [prvParseJSONbyModel] Extracted parameter [ jobId: job-1 ]"
        );
        assert_eq!(
            pal.lines[2],
            "[OTA Task] [prvParseJSONbyModel] Identified parameter [ self_test ]"
        );
        assert_eq!(
            pal.lines[3],
            "[OTA Task] [prvParseJSONbyModel] Extracted parameter [ updatedBy: 589828 ]"
        );
        assert!(pal.lines.last().unwrap().ends_with(
            "Extracted parameter [ sig-sha256-ecdsa: MEQCIGV5JGdEO+Jw6pzrmXpnGFW/8Frl... ]"
        ));
    }

    #[test]
    fn v1_reports_wrong_types() {
        let mut pal = FakePal::default();
        let doc = DOC.replace(r#""filesize":10000"#, r#""filesize":{"a":1}"#);
        let (_, ok) = parse_v1(&mut pal, doc.as_bytes());
        assert!(!ok);
        assert_eq!(
            pal.lines.last().unwrap(),
            r#"[OTA Task] [prvParseJSONbyModel] parameter type mismatch [ filesize : {"a":1} ] type 1, expected 4"#
        );
    }

    #[test]
    fn v3_reads_dotted_paths_and_only_the_first_file() {
        let mut pal = FakePal::default();
        let doc = DOC.replace(r#"}]}}}}"#, r#"},{"filepath":"second"}]}}}}"#);
        let (f, ok) = parse_v3(&mut pal, doc.as_bytes());
        assert!(ok, "{:?}", pal.lines);
        assert_eq!(f.filepath.as_deref(), Some("app.bin"));
        assert_eq!(f.protocols.as_deref(), Some(r#"["MQTT"]"#));
        assert_eq!(
            pal.lines[0],
            "[INFO] [OTA] [ota.c:1678] Extracted parameter: [key: value]=[execution.jobId: job-1]"
        );
        assert_eq!(pal.lines[1], "[INFO] [OTA] [ota.c:1719] Extracted parameter: [key: value]=[execution.statusDetails.updatedBy: 589828]");
    }

    #[test]
    fn v3_empty_document_has_no_job() {
        let mut pal = FakePal::default();
        let doc = br#"{"clientToken":":Thing2","timestamp":1700000000}"#;
        let (_, ok) = parse_v3(&mut pal, doc);
        assert!(!ok);
        assert!(pal.lines.is_empty());
        assert_eq!(v3_has_job(doc), None);
    }
}

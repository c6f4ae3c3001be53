//! Encoding the service's messages: data blocks (`c,f,l,i,p`), descriptions
//! (`c,s,d,r`) and errors (`o,m,c`), in CBOR (byte strings for `p`) or JSON
//! (base64 `p`).

use base64::Engine as _;
use serde::Serialize;

use super::Format;

fn encode(format: Format, value: &impl Serialize) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec(value).expect("stream messages are plain values"),
        Format::Cbor => {
            let mut out = Vec::new();
            ciborium::ser::into_writer(value, &mut out).expect("writing CBOR to a Vec cannot fail");
            out
        }
    }
}

/// One data block message.
pub(super) fn data_block(
    format: Format,
    client_token: Option<&str>,
    file_id: u32,
    block_id: u32,
    payload: &[u8],
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Cbor<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        c: Option<&'a str>,
        f: u32,
        l: u32,
        i: u32,
        #[serde(with = "serde_bytes")]
        p: &'a [u8],
    }
    #[derive(Serialize)]
    struct Json<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        c: Option<&'a str>,
        f: u32,
        l: u32,
        i: u32,
        p: String,
    }
    let l = payload.len() as u32;
    match format {
        Format::Cbor => encode(
            format,
            &Cbor {
                c: client_token,
                f: file_id,
                l,
                i: block_id,
                p: payload,
            },
        ),
        Format::Json => encode(
            format,
            &Json {
                c: client_token,
                f: file_id,
                l,
                i: block_id,
                p: base64::engine::general_purpose::STANDARD.encode(payload),
            },
        ),
    }
}

/// The DescribeStream response: version, description, `{f, z}` per file.
pub(super) fn description(
    format: Format,
    client_token: Option<&str>,
    version: u64,
    description: Option<&str>,
    files: &[(u32, u64)],
) -> Vec<u8> {
    #[derive(Serialize)]
    struct File {
        f: u32,
        z: u64,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        c: Option<&'a str>,
        s: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        d: Option<&'a str>,
        r: Vec<File>,
    }
    encode(
        format,
        &Body {
            c: client_token,
            s: version,
            d: description,
            r: files.iter().map(|&(f, z)| File { f, z }).collect(),
        },
    )
}

/// An error response on `rejected/{fmt}`.
pub(super) fn rejected(
    format: Format,
    code: &str,
    message: &str,
    client_token: Option<&str>,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        o: &'a str,
        m: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        c: Option<&'a str>,
    }
    encode(
        format,
        &Body {
            o: code,
            m: message,
            c: client_token,
        },
    )
}

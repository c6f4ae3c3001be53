use p256::ecdsa::Signature;
use serde::Serialize;

use super::*;
use crate::cloud::pki;
use crate::cloud::signing::{decode_signature, verify_with_cert_pem};

struct Keys {
    trusted: pki::Issued,
    untrusted: pki::Issued,
}

fn keys() -> Keys {
    let ca = pki::issue_ca().unwrap();
    Keys {
        trusted: pki::issue_code_signer(&ca).unwrap(),
        untrusted: pki::issue_untrusted_code_signer().unwrap(),
    }
}

fn opts(keys: &Keys) -> JobDocOptions {
    let mut o = JobDocOptions::new(
        "upd-v5-1a2b3c",
        signing::signing_key_from_pem(&keys.trusted.key_pem).unwrap(),
    );
    o.untrusted_key = Some(signing::signing_key_from_pem(&keys.untrusted.key_pem).unwrap());
    o.file_id = 3;
    o
}

fn image() -> Vec<u8> {
    (0..10_000u32).map(|i| (i * 31 % 253) as u8).collect()
}

fn file(doc: &BuiltJobDoc) -> &Map<String, Value> {
    doc.document["afr_ota"]["files"][0].as_object().unwrap()
}

fn sig_der(doc: &BuiltJobDoc, key: &str) -> Vec<u8> {
    decode_signature(file(doc)[key].as_str().unwrap()).unwrap()
}

#[test]
fn a_clean_document_carries_everything_mqtt_delivery_needs_and_verifies() {
    let k = keys();
    let img = image();
    let doc = build(&img, &opts(&k), &[]).unwrap();
    let ota = &doc.document["afr_ota"];
    assert_eq!(ota["protocols"], json!(["MQTT"]));
    assert_eq!(ota["streamname"], "upd-v5-1a2b3c");
    let f = file(&doc);
    assert_eq!(f["filepath"], "otarig-image.bin");
    assert_eq!(f["filesize"], img.len());
    assert_eq!(f["fileid"], 3);
    assert_eq!(f["certfile"], "codesign.pem");
    assert_eq!(doc.payload, img);
    assert_eq!(doc.stream_id, "upd-v5-1a2b3c");
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
    assert_eq!(doc.signature.as_deref(), f[SIGNATURE_KEY].as_str());
    assert!(verify_with_cert_pem(
        &k.trusted.cert_pem,
        &doc.payload,
        &sig_der(&doc, SIGNATURE_KEY)
    )
    .unwrap());
    assert!(!f.contains_key(SHA1_RSA_KEY));
}

#[test]
fn unsigned_leaves_out_every_signature_field() {
    let k = keys();
    let doc = build(&image(), &opts(&k), &[ImageFault::Unsigned]).unwrap();
    assert!(
        file(&doc).keys().all(|key| !key.starts_with("sig-")),
        "{:?}",
        file(&doc)
    );
    assert_eq!(doc.signature, None);
}

#[test]
fn untrusted_key_signs_with_the_untrusted_signer() {
    let k = keys();
    let doc = build(&image(), &opts(&k), &[ImageFault::UntrustedKey]).unwrap();
    let sig = sig_der(&doc, SIGNATURE_KEY);
    assert!(!verify_with_cert_pem(&k.trusted.cert_pem, &doc.payload, &sig).unwrap());
    assert!(verify_with_cert_pem(&k.untrusted.cert_pem, &doc.payload, &sig).unwrap());
}

#[test]
fn corrupt_signature_is_valid_base64_and_der_but_does_not_verify() {
    let k = keys();
    let clean = build(&image(), &opts(&k), &[]).unwrap();
    let doc = build(&image(), &opts(&k), &[ImageFault::CorruptSignature]).unwrap();
    let (good, bad) = (sig_der(&clean, SIGNATURE_KEY), sig_der(&doc, SIGNATURE_KEY));
    assert!(Signature::from_der(&bad).is_ok(), "still DER");
    let flipped: u32 = good
        .iter()
        .zip(&bad)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum();
    assert_eq!((good.len(), flipped), (bad.len(), 1));
    assert!(!verify_with_cert_pem(&k.trusted.cert_pem, &doc.payload, &bad).unwrap());
}

#[test]
fn sha1_rsa_key_moves_the_valid_signature_to_the_wrong_key() {
    let k = keys();
    let doc = build(&image(), &opts(&k), &[ImageFault::Sha1RsaKey]).unwrap();
    assert!(!file(&doc).contains_key(SIGNATURE_KEY));
    let sig = sig_der(&doc, SHA1_RSA_KEY);
    assert!(verify_with_cert_pem(&k.trusted.cert_pem, &doc.payload, &sig).unwrap());
}

#[test]
fn missing_filepath_leaves_out_only_the_filepath() {
    let k = keys();
    let doc = build(&image(), &opts(&k), &[ImageFault::MissingFilepath]).unwrap();
    let f = file(&doc);
    assert!(!f.contains_key("filepath"));
    for key in ["filesize", "fileid", "certfile", SIGNATURE_KEY] {
        assert!(f.contains_key(key), "{key}");
    }
}

#[test]
fn wrong_filesize_states_a_size_other_than_what_is_streamed() {
    let k = keys();
    let doc = build(&image(), &opts(&k), &[ImageFault::WrongFilesize]).unwrap();
    assert_eq!(file(&doc)["filesize"], doc.payload.len() - 1);
    let one = build(&[7], &opts(&k), &[ImageFault::WrongFilesize]).unwrap();
    assert_eq!(file(&one)["filesize"], 2);
    // The signature still covers the streamed bytes.
    assert!(verify_with_cert_pem(
        &k.trusted.cert_pem,
        &doc.payload,
        &sig_der(&doc, SIGNATURE_KEY)
    )
    .unwrap());
}

#[test]
fn altered_after_signing_streams_bytes_the_signature_does_not_cover() {
    let k = keys();
    let img = image();
    let doc = build(&img, &opts(&k), &[ImageFault::AlteredAfterSigning]).unwrap();
    assert_eq!(doc.payload.len(), img.len());
    assert_eq!(file(&doc)["filesize"], img.len());
    assert_eq!(
        doc.payload.iter().zip(&img).filter(|(a, b)| a != b).count(),
        1
    );
    let sig = sig_der(&doc, SIGNATURE_KEY);
    assert!(
        verify_with_cert_pem(&k.trusted.cert_pem, &img, &sig).unwrap(),
        "signed the original"
    );
    assert!(!verify_with_cert_pem(&k.trusted.cert_pem, &doc.payload, &sig).unwrap());
}

#[test]
fn faults_combine_and_pointless_combinations_are_warned_about() {
    let k = keys();
    let doc = build(
        &image(),
        &opts(&k),
        &[
            ImageFault::AlteredAfterSigning,
            ImageFault::UntrustedKey,
            ImageFault::MissingFilepath,
            ImageFault::UntrustedKey,
        ],
    )
    .unwrap();
    assert_eq!(
        doc.faults,
        [
            ImageFault::UntrustedKey,
            ImageFault::MissingFilepath,
            ImageFault::AlteredAfterSigning
        ]
    );
    assert!(!file(&doc).contains_key("filepath"));
    let sig = sig_der(&doc, SIGNATURE_KEY);
    assert!(!verify_with_cert_pem(&k.untrusted.cert_pem, &doc.payload, &sig).unwrap());
    assert!(verify_with_cert_pem(&k.untrusted.cert_pem, &image(), &sig).unwrap());

    let doc = build(
        &image(),
        &opts(&k),
        &[ImageFault::Unsigned, ImageFault::CorruptSignature],
    )
    .unwrap();
    assert!(
        doc.warnings.iter().any(|w| w.contains("corrupt_signature")),
        "{:?}",
        doc.warnings
    );
}

#[test]
fn impossible_requests_are_errors() {
    let k = keys();
    let mut o = opts(&k);
    o.untrusted_key = None;
    assert!(matches!(
        build(&image(), &o, &[ImageFault::UntrustedKey]),
        Err(JobDocError::MissingUntrustedKey)
    ));
    assert!(matches!(
        build(&[], &o, &[ImageFault::AlteredAfterSigning]),
        Err(JobDocError::NothingToAlter)
    ));
    o.stream_name = "has space".into();
    assert!(matches!(
        build(&image(), &o, &[]),
        Err(JobDocError::InvalidStreamName(_))
    ));
}

#[test]
fn an_empty_image_is_built_but_warned_about() {
    let k = keys();
    let doc = build(&[], &opts(&k), &[]).unwrap();
    assert_eq!(file(&doc)["filesize"], 0);
    assert!(doc.warnings.iter().any(|w| w.contains("zero file size")));
}

#[test]
fn fault_names_round_trip_as_scenario_files_spell_them() {
    for fault in ImageFault::ALL {
        let parsed: ImageFault = serde_json::from_value(json!(fault.name())).unwrap();
        assert_eq!(parsed, fault);
    }
}

#[test]
fn short_stream_names_are_short_valid_deterministic_and_distinct() {
    let a = short_stream_name("update-v5-for-all-the-boards");
    assert_eq!(a, short_stream_name("update-v5-for-all-the-boards"));
    assert!(a.starts_with("update-v") && a.len() <= 15, "{a}");
    assert_ne!(a, short_stream_name("update-v5-for-all-the-boards-2"));
    for id in ["x", "ünï cødé", "", "a/b+c#"] {
        let s = short_stream_name(id);
        assert!(is_valid_stream_id(&s) && s.len() <= 15, "{id:?} -> {s:?}");
    }
}

#[test]
fn the_block_message_size_is_that_of_the_real_publish() {
    #[derive(Serialize)]
    struct Data<'a> {
        c: &'a str,
        f: u32,
        l: u32,
        i: u32,
        #[serde(with = "serde_bytes")]
        p: &'a [u8],
    }
    for (thing, stream, block) in [
        ("Thing1", "upd-1a2b3c", 4096usize),
        ("T", "s", 256),
        ("x".repeat(100).as_str(), "y", 1024),
    ] {
        let block_bytes = vec![0u8; block];
        let mut cbor = Vec::new();
        let data = Data {
            c: "rdy",
            f: 255,
            l: block as u32,
            i: 300,
            p: &block_bytes,
        };
        ciborium::ser::into_writer(&data, &mut cbor).unwrap();
        let topic = format!("$aws/things/{thing}/streams/{stream}/data/cbor");
        let publish = rumqttc::mqttbytes::v4::Publish::new(topic, rumqttc::QoS::AtMostOnce, cbor);
        assert_eq!(
            block_message_size(thing, stream, block),
            publish.size(),
            "{thing} {stream} {block}"
        );
    }
}

#[test]
fn the_v3_demo_budget_is_about_67_characters_and_is_enforced() {
    let budget = stream_name_budget(V3_BLOCK_SIZE, V3_DEMO_RECEIVE_LIMIT).unwrap();
    assert!((60..=67).contains(&budget), "{budget}");
    let thing = "T".repeat(budget - 10);
    assert!(check_stream_budget(
        &thing,
        &"s".repeat(10),
        V3_BLOCK_SIZE,
        V3_DEMO_RECEIVE_LIMIT
    )
    .is_ok());
    let err = check_stream_budget(
        &thing,
        &"s".repeat(11),
        V3_BLOCK_SIZE,
        V3_DEMO_RECEIVE_LIMIT,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&thing) && msg.contains("4224") && msg.contains(&format!("within {budget}")),
        "{msg}"
    );
    assert_eq!(stream_name_budget(V3_BLOCK_SIZE, 4000), None);
}

#[test]
fn the_receive_check_warns_per_thing_that_does_not_fit() {
    let k = keys();
    let mut o = opts(&k);
    let long = "L".repeat(70);
    o.receive_check = Some(ReceiveCheck {
        things: vec!["Thing1".into(), long.clone()],
        block_size: V3_BLOCK_SIZE,
        device_receive_limit: V3_DEMO_RECEIVE_LIMIT,
    });
    let doc = build(&image(), &o, &[]).unwrap();
    assert_eq!(doc.warnings.len(), 1, "{:?}", doc.warnings);
    assert!(doc.warnings[0].contains(&long));

    o.receive_check = Some(ReceiveCheck {
        things: vec![],
        block_size: 256,
        device_receive_limit: 4224,
    });
    let big = vec![0u8; 256 * 1025];
    let doc = build(&big, &o, &[]).unwrap();
    assert!(
        doc.warnings.iter().any(|w| w.contains("1025 blocks")),
        "{:?}",
        doc.warnings
    );
}

#[test]
fn options_load_both_signers_from_a_pki_directory() {
    let dir = tempfile::tempdir().unwrap();
    pki::init(dir.path(), &pki::PkiOptions::default()).unwrap();
    let layout = pki::PkiLayout::new(dir.path());
    let o = JobDocOptions::from_pki(&layout, "s-1").unwrap();
    let doc = build(b"abc", &o, &[ImageFault::UntrustedKey]).unwrap();
    let untrusted = std::fs::read_to_string(layout.untrusted_codesign_cert()).unwrap();
    assert!(verify_with_cert_pem(&untrusted, b"abc", &sig_der(&doc, SIGNATURE_KEY)).unwrap());

    let empty = tempfile::tempdir().unwrap();
    let err = JobDocOptions::from_pki(&pki::PkiLayout::new(empty.path()), "s-1").unwrap_err();
    assert!(err.to_string().contains("codesign.key"), "{err}");
}

#[test]
fn a_jobs_settings_reach_its_document_and_a_long_thing_name_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    pki::init(dir.path(), &pki::PkiOptions::default()).unwrap();
    let layout = pki::PkiLayout::new(dir.path());
    let other = tempfile::tempdir().unwrap();
    pki::init(other.path(), &pki::PkiOptions::default()).unwrap();
    let settings = JobDocument {
        filepath: Some("/var/ota/next".into()),
        certfile: Some("/etc/ota/signer.pem".into()),
        signature: Some("sig-sha256-ecdsa".into()),
        key: Some(pki::PkiLayout::new(other.path()).codesign_key()),
        stream: None,
    };
    let long = "T".repeat(40);
    let o = JobDocOptions::for_job(
        &layout,
        "update-v5",
        &["Thing1".into(), long.clone()],
        &settings,
    )
    .unwrap();
    assert_eq!(o.stream_name, aws_stream_name("update-v5"));
    assert_eq!(o.stream_name.len(), 44);
    let doc = build(b"abc", &o, &[]).unwrap();
    let f = file(&doc);
    assert_eq!(
        (f["filepath"].as_str(), f["certfile"].as_str()),
        (Some("/var/ota/next"), Some("/etc/ota/signer.pem"))
    );
    // Signed with the step's key, not the bench's.
    let signer =
        std::fs::read_to_string(pki::PkiLayout::new(other.path()).codesign_cert()).unwrap();
    assert!(verify_with_cert_pem(&signer, b"abc", &sig_der(&doc, SIGNATURE_KEY)).unwrap());
    assert_eq!(doc.warnings.len(), 1, "{:?}", doc.warnings);
    assert!(doc.warnings[0].contains(&long), "{:?}", doc.warnings);
}

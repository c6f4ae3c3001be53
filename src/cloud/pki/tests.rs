use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use rumqttc::tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, ServerName},
    ClientConfig, ClientConnection, ServerConfig, ServerConnection,
};

use super::*;

fn der(pem: &str) -> Vec<u8> {
    pem_cert_der(pem).unwrap().to_vec()
}

fn opts(things: &[&str], hosts: &[&str]) -> PkiOptions {
    PkiOptions {
        things: things.iter().map(|s| s.to_string()).collect(),
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
        reissue_endpoint: false,
    }
}

#[test]
fn the_ca_is_a_ca_and_what_it_issues_is_not() {
    let ca = issue_ca().unwrap();
    let ca_der = der(&ca.cert_pem);
    assert!(is_ca(&ca_der));
    let thing = issue_thing(&ca, "Thing1").unwrap();
    let endpoint = issue_endpoint(&ca, &endpoint_hosts(&[]).unwrap()).unwrap();
    let signer = issue_code_signer(&ca).unwrap();
    for leaf in [&thing, &endpoint, &signer] {
        let leaf_der = der(&leaf.cert_pem);
        assert!(!is_ca(&leaf_der));
        assert!(is_issued_by(&leaf_der, &ca_der));
        assert!(key_matches_cert(&leaf.key_pem, &leaf_der).unwrap());
        assert!(!key_matches_cert(&ca.key_pem, &leaf_der).unwrap());
    }
}

#[test]
fn another_ca_and_the_untrusted_signer_are_not_the_issuer() {
    let ca = issue_ca().unwrap();
    let other = issue_ca().unwrap();
    let thing = issue_thing(&other, "Thing1").unwrap();
    assert!(!is_issued_by(&der(&thing.cert_pem), &der(&ca.cert_pem)));
    let untrusted = issue_untrusted_code_signer().unwrap();
    assert!(!is_issued_by(&der(&untrusted.cert_pem), &der(&ca.cert_pem)));
}

#[test]
fn the_endpoint_covers_localhost_loopback_and_the_extra_hosts() {
    let ca = issue_ca().unwrap();
    let hosts = endpoint_hosts(&[
        "Bench.Local".into(),
        "10.0.0.7".into(),
        "::1".into(),
        "localhost".into(),
    ])
    .unwrap();
    assert_eq!(hosts.len(), 5, "duplicates removed: {hosts:?}");
    let endpoint = issue_endpoint(&ca, &hosts).unwrap();
    let covered = cert_hosts(&der(&endpoint.cert_pem)).unwrap();
    for want in ["localhost", "127.0.0.1", "bench.local", "10.0.0.7", "::1"] {
        assert!(
            covered.contains(&Host::parse(want).unwrap()),
            "{want} in {covered:?}"
        );
    }
}

#[test]
fn bad_hosts_are_refused() {
    for bad in ["", "bad host", "-x.example", "a..b", "x_y.local"] {
        assert!(
            matches!(Host::parse(bad), Err(PkiError::InvalidHost { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn a_thing_certificate_carries_the_thing_name_as_common_name() {
    let ca = issue_ca().unwrap();
    let thing = issue_thing(&ca, "Thing-2:a_b").unwrap();
    assert_eq!(
        cert_common_name(&der(&thing.cert_pem)).as_deref(),
        Some("Thing-2:a_b")
    );
    assert_eq!(cert_common_name(b"not a certificate"), None);
}

#[test]
fn init_creates_the_layout_with_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let report = init(dir.path(), &opts(&["Thing1", "Thing2"], &[])).unwrap();
    let l = PkiLayout::new(dir.path());
    let expected = [
        l.ca_cert(),
        l.ca_key(),
        l.endpoint_cert(),
        l.endpoint_key(),
        l.codesign_cert(),
        l.codesign_key(),
        l.untrusted_codesign_cert(),
        l.untrusted_codesign_key(),
        l.thing_cert("Thing1"),
        l.thing_key("Thing1"),
        l.thing_cert("Thing2"),
        l.thing_key("Thing2"),
    ];
    for path in &expected {
        assert!(
            report.created().any(|p| p == path),
            "{} created",
            path.display()
        );
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        if path.extension().unwrap() == "key" {
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    assert_eq!(report.files.len(), expected.len());
    assert_eq!(things_in(dir.path()).unwrap(), ["Thing1", "Thing2"]);
}

#[test]
fn init_again_reuses_everything_and_adds_only_new_things() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &opts(&["Thing1"], &[])).unwrap();
    let l = PkiLayout::new(dir.path());
    let before = std::fs::read(l.endpoint_cert()).unwrap();
    let again = init(dir.path(), &opts(&["Thing1", "Thing3"], &[])).unwrap();
    let created: Vec<_> = again.created().collect();
    assert_eq!(created, [l.thing_cert("Thing3"), l.thing_key("Thing3")]);
    assert_eq!(std::fs::read(l.endpoint_cert()).unwrap(), before);
    let ca = std::fs::read_to_string(l.ca_cert()).unwrap();
    let t3 = std::fs::read_to_string(l.thing_cert("Thing3")).unwrap();
    assert!(is_issued_by(&der(&t3), &der(&ca)));
}

#[test]
fn a_missing_endpoint_host_is_an_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &opts(&[], &[])).unwrap();
    let err = init(dir.path(), &opts(&[], &["bench.local"])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PkiError::EndpointMissingHost { .. }));
    assert!(
        msg.contains("bench.local") && msg.contains("endpoint.pem") && msg.contains("endpoint.key"),
        "{msg}"
    );
    assert!(msg.contains("--reissue-endpoint"), "{msg}");
}

#[test]
fn reissue_replaces_only_the_endpoint_and_keeps_the_old_hosts() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &opts(&["Thing1"], &["old.local"])).unwrap();
    let l = PkiLayout::new(dir.path());
    let ca_before = std::fs::read(l.ca_cert()).unwrap();
    let mut o = opts(&["Thing1"], &["new.local"]);
    o.reissue_endpoint = true;
    let report = init(dir.path(), &o).unwrap();
    let reissued: Vec<_> = report.with_action(FileAction::Reissued).collect();
    assert_eq!(reissued, [l.endpoint_cert(), l.endpoint_key()]);
    assert_eq!(report.created().count(), 0);
    assert_eq!(std::fs::read(l.ca_cert()).unwrap(), ca_before);
    let covered = cert_hosts(&der(&std::fs::read_to_string(l.endpoint_cert()).unwrap())).unwrap();
    for want in ["old.local", "new.local", "localhost", "127.0.0.1"] {
        assert!(covered.contains(&Host::parse(want).unwrap()), "{want}");
    }
    let mode = std::fs::metadata(l.endpoint_key())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_half_pair_or_a_foreign_certificate_is_reported_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &opts(&["Thing1"], &[])).unwrap();
    let l = PkiLayout::new(dir.path());
    std::fs::remove_file(l.thing_key("Thing1")).unwrap();
    let err = init(dir.path(), &opts(&["Thing1"], &[])).unwrap_err();
    assert!(matches!(err, PkiError::HalfPair { .. }), "{err}");
    assert!(err.to_string().contains("Thing1.key"), "{err}");

    // A thing certificate from some other CA.
    let other = issue_thing(&issue_ca().unwrap(), "Thing1").unwrap();
    std::fs::write(l.thing_cert("Thing1"), &other.cert_pem).unwrap();
    std::fs::write(l.thing_key("Thing1"), &other.key_pem).unwrap();
    let err = init(dir.path(), &opts(&["Thing1"], &[])).unwrap_err();
    assert!(matches!(err, PkiError::NotIssuedByCa { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(l.thing_cert("Thing1")).unwrap(),
        other.cert_pem
    );
}

#[test]
fn invalid_thing_names_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let err = init(dir.path(), &opts(&["../evil"], &[])).unwrap_err();
    assert!(matches!(err, PkiError::InvalidThingName { .. }));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

/// Drives a TLS handshake through memory; returns the client certificates the
/// server saw, or the first error either side raised.
fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: &str,
) -> Result<Option<Vec<CertificateDer<'static>>>, rustls::Error> {
    let mut c = ClientConnection::new(client, ServerName::try_from(name.to_owned()).unwrap())?;
    let mut s = ServerConnection::new(server)?;
    fn pump(
        from: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl Sized>>,
        to: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl Sized>>,
    ) -> Result<(), rustls::Error> {
        let mut buf = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut buf).unwrap();
        }
        let mut rest = &buf[..];
        while !rest.is_empty() {
            to.read_tls(&mut rest).unwrap();
            to.process_new_packets()?;
        }
        Ok(())
    }
    // A TLS 1.3 handshake with client auth needs two round trips; a few more
    // rounds than that cost nothing.
    for _ in 0..6 {
        pump(&mut c, &mut s)?;
        pump(&mut s, &mut c)?;
    }
    assert!(
        !s.is_handshaking() && !c.is_handshaking(),
        "handshake did not finish"
    );
    Ok(s.peer_certificates().map(|certs| certs.to_vec()))
}

#[test]
fn a_thing_connects_with_its_certificate_and_the_server_reads_its_name() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &opts(&["Thing1"], &[])).unwrap();
    let l = PkiLayout::new(dir.path());
    let server = server_config(&l, ClientAuth::Required).unwrap();
    for name in ["localhost", "127.0.0.1"] {
        let certs = handshake(client_config(&l, "Thing1").unwrap(), server.clone(), name)
            .unwrap()
            .expect("client certificate");
        assert_eq!(cert_common_name(&certs[0]).as_deref(), Some("Thing1"));
    }
}

#[test]
fn required_client_auth_refuses_anonymous_and_foreign_clients() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    init(dir.path(), &opts(&["Thing1"], &[])).unwrap();
    init(other.path(), &opts(&["Thing1"], &[])).unwrap();
    let l = PkiLayout::new(dir.path());
    let required = server_config(&l, ClientAuth::Required).unwrap();
    assert!(handshake(
        anonymous_client_config(&l).unwrap(),
        required.clone(),
        "localhost"
    )
    .is_err());

    // Thing1 of another bench: its cert is not from this CA, and it does not trust this endpoint.
    let foreign = client_config(&PkiLayout::new(other.path()), "Thing1").unwrap();
    assert!(handshake(foreign, required, "localhost").is_err());

    let optional = server_config(&l, ClientAuth::Optional).unwrap();
    let seen = handshake(anonymous_client_config(&l).unwrap(), optional, "localhost").unwrap();
    assert!(seen.is_none());
}

#[test]
fn a_client_for_an_unknown_thing_says_how_to_add_it() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &opts(&[], &[])).unwrap();
    let err = client_config(&PkiLayout::new(dir.path()), "Thing9")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Thing9") && err.contains("otarig pki init"),
        "{err}"
    );
}

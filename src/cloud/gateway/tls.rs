//! Mutual TLS at the endpoint: the bench CA's client certificates, as AWS IoT
//! requires. The certificate's CN is the connection's thing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::tokio_rustls::TlsAcceptor;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::warn;

use super::session::{serve, Shared};
use super::transcript::Who;
use super::{GatewayError, TlsSettings};
use crate::cloud::pki::{self, ClientAuth, PkiLayout};

pub(crate) fn acceptor(tls: &TlsSettings) -> Result<TlsAcceptor, GatewayError> {
    let layout = PkiLayout::new(&tls.pki_dir);
    let config =
        pki::server_config(&layout, ClientAuth::Required).map_err(|source| GatewayError::Tls {
            dir: tls.pki_dir.clone(),
            source,
        })?;
    Ok(TlsAcceptor::from(config))
}

/// Handshakes, then serves. A client without a valid certificate is refused
/// here: logged and recorded, nothing else is disturbed.
pub(crate) async fn serve_tls(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    timeout: Duration,
) {
    let stream = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return refused(&shared, format!("TLS handshake from {peer} failed: {e} (a device must present a client certificate issued by the bench CA)")),
        Err(_) => return refused(&shared, format!("TLS handshake from {peer} did not finish within {timeout:?}")),
    };
    let cn = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|der| pki::cert_common_name(der));
    if cn.is_none() {
        return refused(
            &shared,
            format!("client certificate from {peer} has no common name (CN = thing name)"),
        );
    }
    serve(stream, peer, cn, shared, shutdown).await;
}

fn refused(shared: &Shared, why: String) {
    warn!("connection refused: {why}");
    let who = Who {
        conn: shared.broker.next_conn_id(),
        client_id: String::new(),
        thing: None,
    };
    shared.transcript.connection(&who, false, Some(why));
}

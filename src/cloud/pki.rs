//! The bench PKI: a throwaway CA, the endpoint (gateway) certificate, one
//! client certificate per thing, and code-signing certificates, trusted and
//! untrusted. `issue` and `inspect` are pure (PEM/DER in and out); `init`
//! owns the files (`private`: their modes, whatever the umask); `tls` turns the files into rustls configurations.

mod error;
mod for_rig;
mod init;
mod inspect;
mod issue;
mod layout;
mod private;
mod tls;

pub use error::PkiError;
pub use for_rig::{init_command, missing_files, needed_files, prepare, RigPkiError};
pub use init::{init, things_in, FileAction, InitReport, PkiOptions};
pub use inspect::{
    cert_common_name, cert_hosts, is_ca, is_issued_by, key_matches_cert, pem_cert_der,
};
pub use issue::{
    endpoint_hosts, issue_ca, issue_code_signer, issue_endpoint, issue_thing,
    issue_untrusted_code_signer, Host, Issued, DEFAULT_HOSTS,
};
pub use layout::{validate_thing_name, PkiLayout};
pub use private::Tightened;
pub use tls::{anonymous_client_config, client_config, server_config, ClientAuth};

#[cfg(test)]
mod tests;

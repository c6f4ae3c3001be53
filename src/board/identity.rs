//! What a board is told before it boots: who it is and where its cloud is. A simulated
//! board reads it from its NVS; a native program gets it through argument placeholders and
//! environment variables (the way POSIX firmware builds take their endpoint and
//! credentials); a physical board has it baked in and is told nothing.

use std::path::PathBuf;

/// A board's identity for one scenario run. Paths are absolute: the board runs in its own
/// folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub thing: String,
    /// The endpoint host and port the board connects to.
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The CA that issued the endpoint's certificate (the board's root CA).
    pub root_ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The trusted code-signing certificate (what the OTA PAL verifies images with).
    pub codesign_cert: PathBuf,
}

/// The placeholders a native program's `args` and `env` values may use, in documentation
/// order, with the environment variable that carries the same value.
pub const PLACEHOLDERS: &[(&str, &str, &str)] = &[
    (
        "{thing}",
        "OTARIG_THING_NAME",
        "thing name (MQTT client id, certificate CN)",
    ),
    ("{endpoint}", "OTARIG_ENDPOINT", "endpoint host"),
    ("{port}", "OTARIG_PORT", "endpoint port"),
    (
        "{tls}",
        "OTARIG_TLS",
        "1 for TLS with a client certificate, 0 for plain TCP",
    ),
    ("{root_ca}", "OTARIG_ROOT_CA", "root CA certificate (PEM)"),
    (
        "{cert}",
        "OTARIG_CLIENT_CERT",
        "the thing's client certificate (PEM)",
    ),
    (
        "{key}",
        "OTARIG_CLIENT_KEY",
        "the thing's private key (PEM)",
    ),
    (
        "{codesign_cert}",
        "OTARIG_CODESIGN_CERT",
        "code-signing certificate (PEM)",
    ),
];

impl Identity {
    /// The values of [`PLACEHOLDERS`], in the same order.
    fn values(&self) -> [String; 8] {
        [
            self.thing.clone(),
            self.host.clone(),
            self.port.to_string(),
            if self.tls { "1" } else { "0" }.to_string(),
            self.root_ca.display().to_string(),
            self.client_cert.display().to_string(),
            self.client_key.display().to_string(),
            self.codesign_cert.display().to_string(),
        ]
    }

    /// `text` with every placeholder replaced.
    pub fn expand(&self, text: &str) -> String {
        PLACEHOLDERS
            .iter()
            .zip(self.values())
            .fold(text.to_string(), |acc, ((name, _, _), value)| {
                acc.replace(name, &value)
            })
    }

    /// The environment variables every native program is started with.
    pub fn env(&self) -> Vec<(String, String)> {
        PLACEHOLDERS
            .iter()
            .zip(self.values())
            .map(|((_, var, _), value)| (var.to_string(), value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            thing: "Thing1".into(),
            host: "127.0.0.1".into(),
            port: 8883,
            tls: true,
            root_ca: "/p/ca.pem".into(),
            client_cert: "/p/things/Thing1.pem".into(),
            client_key: "/p/things/Thing1.key".into(),
            codesign_cert: "/p/codesign.pem".into(),
        }
    }

    #[test]
    fn placeholders_and_environment_carry_the_same_values() {
        let id = identity();
        assert_eq!(
            id.expand("--thing={thing} -h {endpoint}:{port} --ca {root_ca} {cert} {key} {codesign_cert} tls={tls}"),
            "--thing=Thing1 -h 127.0.0.1:8883 --ca /p/ca.pem /p/things/Thing1.pem /p/things/Thing1.key /p/codesign.pem tls=1"
        );
        let env = id.env();
        assert!(env.contains(&("OTARIG_THING_NAME".into(), "Thing1".into())));
        assert!(env.contains(&("OTARIG_PORT".into(), "8883".into())));
        assert_eq!(env.len(), PLACEHOLDERS.len());
    }

    #[test]
    fn the_documented_contract_lists_every_placeholder_and_variable() {
        let doc = include_str!("../../docs/native-boards.md");
        for (name, var, _) in PLACEHOLDERS {
            let row = format!("| `{name}` | `{var}` |");
            assert!(
                doc.contains(&row),
                "docs/native-boards.md lacks the row {row}"
            );
        }
    }

    #[test]
    fn text_without_placeholders_is_left_alone() {
        assert_eq!(identity().expand("{unknown} plain"), "{unknown} plain");
    }
}

use std::path::PathBuf;

/// A rig-side failure of a board part. These are bench errors, never firmware verdicts.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("{0} is not supported by this board part")]
    Unsupported(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("tool `{program}` failed: {message}")]
    Tool { program: String, message: String },
    #[error("tool `{program}` did not finish within {secs}s and was killed")]
    ToolTimeout { program: String, secs: u64 },
    #[error("port {port} not found: {message}")]
    PortMissing { port: String, message: String },
    #[error("debug probe: {0}")]
    Probe(String),
    #[error("image {path}: {message}")]
    Image { path: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}

impl BoardError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BoardError::Io {
            what: what.into(),
            source,
        }
    }
}

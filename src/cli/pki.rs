//! `otarig pki` and `otarig sign`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::exit;
use crate::cloud::{pki, signing};

#[derive(Subcommand)]
pub enum PkiCommand {
    /// Create the bench PKI, or complete it: existing files are reused, never overwritten.
    ///
    /// Writes DIR/ca.pem, DIR/endpoint.pem, DIR/things/<thing>.pem, DIR/codesign.pem,
    /// DIR/untrusted-codesign.pem, each with its .key (PKCS#8, mode 0600), in directories
    /// of mode 0700, whatever the umask.
    Init(InitArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// The PKI directory (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".otarig/pki")]
    dir: PathBuf,
    /// Things that need a client certificate (CN = thing name), comma-separated.
    #[arg(long, value_name = "THING,...", value_delimiter = ',')]
    things: Vec<String>,
    /// A host name or IP address the endpoint certificate must cover besides
    /// localhost and 127.0.0.1 (repeatable).
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// If the existing endpoint certificate lacks a requested host, issue a new
    /// one (covering the old hosts too) instead of failing.
    #[arg(long)]
    reissue_endpoint: bool,
}

#[derive(Args)]
pub struct SignArgs {
    /// The P-256 private key, PKCS#8 PEM (e.g. DIR/codesign.key).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The file to sign: the OTA file exactly as it will be streamed.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn pki(cmd: PkiCommand) -> u8 {
    match cmd {
        PkiCommand::Init(args) => init(args),
    }
}

fn init(args: InitArgs) -> u8 {
    let opts = pki::PkiOptions {
        things: args.things.into_iter().filter(|t| !t.is_empty()).collect(),
        hosts: args.hosts,
        reissue_endpoint: args.reissue_endpoint,
    };
    let report = match pki::init(&args.dir, &opts) {
        Ok(report) => report,
        Err(err) => {
            super::report_error(&anyhow::Error::new(err));
            return exit::USAGE;
        }
    };
    for (path, action) in &report.files {
        let word = match action {
            pki::FileAction::Created => "created",
            pki::FileAction::Reused => "reused",
            pki::FileAction::Reissued => "reissued",
        };
        println!("{word:<9}{}", path.display());
    }
    print_tightened(&report.tightened);
    let count = |a| report.with_action(a).count();
    println!(
        "PKI in {}: {} created, {} reissued, {} reused",
        args.dir.display(),
        count(pki::FileAction::Created),
        count(pki::FileAction::Reissued),
        count(pki::FileAction::Reused),
    );
    exit::PASSED
}

/// Modes `pki init` narrowed on what already existed, said where a person looks.
pub(super) fn print_tightened(tightened: &[pki::Tightened]) {
    for (path, was, now) in tightened {
        eprintln!(
            "note: {} was mode {was:04o}; now {now:04o}, so other users cannot reach the bench's keys",
            path.display()
        );
    }
}

pub fn sign(args: SignArgs) -> u8 {
    let signed = (|| -> anyhow::Result<String> {
        let key = signing::load_signing_key(&args.key)?;
        let data = std::fs::read(&args.file)
            .with_context(|| format!("cannot read the file to sign, {}", args.file.display()))?;
        Ok(signing::sign_base64(&key, &data))
    })();
    match signed {
        Ok(signature) => {
            println!("{signature}");
            exit::PASSED
        }
        Err(err) => {
            super::report_error(&err);
            exit::USAGE
        }
    }
}

//! Builds a firmware fixture into simulator images, deterministically (no binaries in
//! git): `ota.bin`, the OTA file a job streams (the job builder signs it), and
//! `factory.flash`, the whole flash file the native flasher writes, with the image in
//! the lower bank as the factory image generator makes it (flag Valid, signed with the
//! trusted code-signing key), or without a descriptor when the fixture says so.

// The fixture file model (strict YAML, diagnostics) lives in `config::fixture`.
pub use crate::config::fixture as model;

use std::path::{Path, PathBuf};

use p256::ecdsa::SigningKey;

pub use model::{load, load_named, Content, Fixture};

use super::codesign;
use super::flash::{erased_image, DEFAULT_BANK_SIZE};
use super::image::{
    bank_image, encode_app, fill, flags, ota_file, Delays, Personality, Quirks, Version,
    DESCRIPTOR_LEN, HEADER_LEN, PIC32MZ_HWID,
};

/// The bench PKI's trusted code-signing key (`cloud::pki` layout: `DIR/codesign.key`).
pub fn codesign_key_path(pki_dir: &Path) -> PathBuf {
    pki_dir.join("codesign.key")
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{0}")]
    Config(model_diag::Diagnostics),
    #[error(transparent)]
    Key(#[from] codesign::KeyError),
    #[error("fixture {name}: the image ({len} bytes) does not fit a {bank_size}-byte flash bank; lower `size`")]
    TooBig {
        name: String,
        len: usize,
        bank_size: u32,
    },
    #[error("fixture {name}: cannot write {path}: {source}")]
    Write {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

mod model_diag {
    pub use crate::config::diag::Diagnostics;
}

/// A fixture built for the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltFixture {
    pub name: String,
    /// The OTA file: descriptor without header + app (what is streamed and signed).
    pub ota: Vec<u8>,
    /// The whole flash file of a factory-programmed board.
    pub factory: Vec<u8>,
    /// What the image runs as (`None` for garbage and raw content).
    pub personality: Option<Personality>,
}

/// Where [`build_to_dir`] put the files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltPaths {
    pub ota: PathBuf,
    pub factory: PathBuf,
}

/// The personality a fixture's app carries.
pub fn personality(f: &Fixture) -> Personality {
    let d = Delays::default();
    let fd = &f.delays;
    let (major, minor, build) = f.version;
    Personality {
        version: Version {
            major,
            minor,
            build,
        },
        thing_name: f.thing_name.clone(),
        platform: f.platform.clone(),
        hardware_id: PIC32MZ_HWID,
        agent: f.agent,
        outcome: f.outcome,
        quirks: Quirks {
            reset_hangs: f.quirks.reset_hangs,
        },
        delays: Delays {
            self_test_timeout: fd.self_test_timeout.unwrap_or(d.self_test_timeout),
            boot: fd.boot.unwrap_or(d.boot),
            flash_sector: fd.flash_sector.unwrap_or(d.flash_sector),
            file_request_wait: fd.file_request_wait.unwrap_or(d.file_request_wait),
            watchdog: fd.watchdog.unwrap_or(d.watchdog),
            crash_after: fd.crash_after.unwrap_or(d.crash_after),
        },
        log2_block_size: f.log2_block_size,
        blocks_per_request: f.blocks_per_request,
    }
}

/// Builds a fixture; `key` signs the factory image's trailer.
pub fn build(f: &Fixture, key: &SigningKey, bank_size: u32) -> Result<BuiltFixture, FixtureError> {
    let too_big = |len: usize| FixtureError::TooBig {
        name: f.name.clone(),
        len,
        bank_size,
    };
    let (ota, personality) = match &f.content {
        Content::App => {
            let p = personality(f);
            (ota_file(f.sequence, &encode_app(&p, f.size)), Some(p))
        }
        Content::Garbage => {
            let mut app = Vec::new();
            let (a, b, c) = f.version;
            fill(
                &mut app,
                f.size,
                u64::from(a) << 32 | u64::from(b) << 16 | u64::from(c) | 1 << 63,
            );
            (ota_file(f.sequence, &app), None)
        }
        Content::Raw => (f.raw.clone().unwrap_or_default(), None),
    };
    let mut factory = erased_image(bank_size);
    let plain = f.quirks.no_descriptor || matches!(f.content, Content::Raw);
    if plain {
        // A plain build: the bytes where the programmer puts them, no descriptor, no trailer.
        let (at, bytes) = match f.content {
            Content::Raw => (HEADER_LEN, &ota[..]),
            _ => (DESCRIPTOR_LEN, &ota[DESCRIPTOR_LEN - HEADER_LEN..]),
        };
        if at + bytes.len() > bank_size as usize {
            return Err(too_big(bytes.len()));
        }
        factory[at..at + bytes.len()].copy_from_slice(bytes);
    } else {
        let sig = codesign::sign(key, &ota);
        let bank =
            bank_image(&ota, flags::VALID, &sig, bank_size).ok_or_else(|| too_big(ota.len()))?;
        factory[..bank_size as usize].copy_from_slice(&bank);
    }
    Ok(BuiltFixture {
        name: f.name.clone(),
        ota,
        factory,
        personality,
    })
}

/// Loads `fixtures_dir/NAME.yaml`, builds it with the PKI's trusted code-signing key and
/// writes `out_dir/NAME/{ota.bin,factory.flash}` (atomically; unchanged files are kept).
pub fn build_to_dir(
    fixtures_dir: &Path,
    name: &str,
    pki_dir: &Path,
    out_dir: &Path,
) -> Result<(BuiltFixture, BuiltPaths), FixtureError> {
    let fixture = load_named(fixtures_dir, name).map_err(FixtureError::Config)?;
    let key = codesign::load_private(&codesign_key_path(pki_dir))?;
    let built = build(&fixture, &key, DEFAULT_BANK_SIZE)?;
    let dir = out_dir.join(name);
    let paths = BuiltPaths {
        ota: dir.join("ota.bin"),
        factory: dir.join("factory.flash"),
    };
    for (path, bytes) in [(&paths.ota, &built.ota), (&paths.factory, &built.factory)] {
        write_if_changed(path, bytes).map_err(|source| FixtureError::Write {
            name: name.into(),
            path: path.clone(),
            source,
        })?;
    }
    Ok((built, paths))
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Unique temp name: several boards may build the same fixture at once.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file}.{}.{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::locate::SourceFile;
    use crate::sim::image::decode_app;

    fn fixture(text: &str) -> Fixture {
        model::parse(&SourceFile {
            path: "/f/app-t.yaml".into(),
            text: text.into(),
        })
        .unwrap()
    }

    fn key() -> SigningKey {
        SigningKey::from_slice(&[5u8; 32]).unwrap()
    }

    #[test]
    fn building_twice_gives_identical_bytes() {
        let f = fixture("version: 0.9.5\nsequence: 20\nsize: 5000\n");
        let a = build(&f, &key(), 64 * 1024).unwrap();
        let b = build(&f, &key(), 64 * 1024).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.ota.len(), 24 + 5000);
        let p = decode_app(&a.ota[24..]).unwrap();
        assert_eq!(p.version.to_string(), "0.9.5");
    }

    #[test]
    fn the_factory_image_is_valid_and_signed_in_the_lower_bank() {
        let f = fixture("version: 0.9.4\nsequence: 10\nsize: 3000\n");
        let built = build(&f, &key(), 64 * 1024).unwrap();
        assert_eq!(&built.factory[..8], b"@AFRTOS\xFC");
        assert_eq!(&built.factory[8..8 + built.ota.len()], &built.ota[..]);
        assert!(
            built.factory[64 * 1024..].iter().all(|&b| b == 0xFF),
            "upper bank erased"
        );
    }

    #[test]
    fn a_factory_image_without_descriptor_has_the_app_at_the_entry_point_only() {
        let f = fixture("version: 0.9.4\nquirks: { no_descriptor: true }\nsize: 3000\n");
        let built = build(&f, &key(), 64 * 1024).unwrap();
        assert!(built.factory[..32].iter().all(|&b| b == 0xFF));
        assert!(decode_app(&built.factory[32..]).is_ok());
    }

    #[test]
    fn raw_and_garbage_content() {
        let one = build(&fixture("version: 0.0.1\nraw: '42'\n"), &key(), 64 * 1024).unwrap();
        assert_eq!(one.ota, vec![0x42]);
        let g = build(
            &fixture("version: 0.9.5\ncontent: garbage\nsize: 2000\n"),
            &key(),
            64 * 1024,
        )
        .unwrap();
        assert_eq!(g.ota.len(), 2024);
        assert!(decode_app(&g.ota[24..]).is_err());
        assert!(g.personality.is_none());
    }

    #[test]
    fn an_image_bigger_than_a_bank_is_refused() {
        let f = fixture("version: 0.9.4\nsize: 70000\n");
        assert!(matches!(
            build(&f, &key(), 64 * 1024),
            Err(FixtureError::TooBig { .. })
        ));
    }
}

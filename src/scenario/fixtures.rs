//! Firmware fixtures as the runner uses them: each one built once per run, on demand,
//! deterministically (nothing binary lives in git).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::board::{FlashImage, ImageFormat};
use crate::config::fixture::PlatformFiles;
use crate::config::rig;
use crate::sim::fixture::{self as fixture, Fixture};
use crate::sim::fixture::{build_to_dir, BuiltFixture, BuiltPaths, FixtureError};

/// A fixture ready to flash or to send in a job.
pub struct Prepared {
    pub fixture: Fixture,
    pub built: BuiltFixture,
    pub paths: BuiltPaths,
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Build(#[from] FixtureError),
    #[error("fixture {fixture}: {message}")]
    Config { fixture: String, message: String },
    #[error("fixture {fixture} has no file for platform `{platform}` (board {board}); add `files: {{ {platform}: PATH }}` to firmware-fixtures/{fixture}.yaml")]
    NoPlatformFile {
        fixture: String,
        platform: String,
        board: String,
    },
}

pub struct FixtureStore {
    fixtures_dir: PathBuf,
    pki_dir: PathBuf,
    out_dir: PathBuf,
    cache: Mutex<HashMap<String, Arc<Prepared>>>,
}

impl FixtureStore {
    pub fn new(fixtures_dir: &Path, pki_dir: &Path, out_dir: &Path) -> Self {
        FixtureStore {
            fixtures_dir: fixtures_dir.to_path_buf(),
            pki_dir: pki_dir.to_path_buf(),
            out_dir: out_dir.to_path_buf(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, name: &str) -> Result<Arc<Prepared>, PrepareError> {
        if let Some(p) = self.cache.lock().expect("fixture cache").get(name) {
            return Ok(p.clone());
        }
        let fixture =
            fixture::load_named(&self.fixtures_dir, name).map_err(|d| PrepareError::Config {
                fixture: name.into(),
                message: d.to_string(),
            })?;
        let (built, paths) = build_to_dir(&self.fixtures_dir, name, &self.pki_dir, &self.out_dir)?;
        let prepared = Arc::new(Prepared {
            fixture,
            built,
            paths,
        });
        self.cache
            .lock()
            .expect("fixture cache")
            .insert(name.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// What to program into `board` for fixture `name`: the simulator's whole flash file
    /// for the `sim` platform, the fixture's platform build for any other.
    pub fn flash_image(&self, name: &str, board: &rig::Board) -> Result<FlashImage, PrepareError> {
        let prepared = self.get(name)?;
        if board.platform == rig::SIM_PLATFORM {
            return Ok(FlashImage {
                fixture: name.into(),
                path: prepared.paths.factory.clone(),
                format: ImageFormat::SimFlash,
            });
        }
        let path = platform_files(&prepared, name, &board.platform, &board.name)?.flash;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("elf") | Some("axf") | Some("out") => ImageFormat::Elf,
            Some("bin") => ImageFormat::Bin { base: 0 },
            _ => ImageFormat::Hex,
        };
        Ok(FlashImage {
            fixture: name.into(),
            path,
            format,
        })
    }

    /// The file an OTA job streams to `board` for fixture `name`: the simulator's OTA
    /// image for the `sim` platform, the fixture's platform build for any other.
    pub fn ota_image(&self, name: &str, board: &rig::Board) -> Result<OtaImage, PrepareError> {
        let prepared = self.get(name)?;
        if board.platform == rig::SIM_PLATFORM {
            return Ok(OtaImage {
                source: format!("{name} (simulator image)"),
                bytes: Arc::from(prepared.built.ota.as_slice()),
            });
        }
        let path = platform_files(&prepared, name, &board.platform, &board.name)?.ota;
        let bytes = std::fs::read(&path).map_err(|e| PrepareError::Config {
            fixture: name.into(),
            message: format!(
                "cannot read the `{}` OTA file {}: {e}",
                board.platform,
                path.display()
            ),
        })?;
        Ok(OtaImage {
            source: path.display().to_string(),
            bytes: Arc::from(bytes),
        })
    }
}

/// The bytes a job streams, and where they came from (for messages).
#[derive(Clone, Debug)]
pub struct OtaImage {
    pub source: String,
    pub bytes: Arc<[u8]>,
}

fn platform_files(
    prepared: &Prepared,
    fixture: &str,
    platform: &str,
    board: &str,
) -> Result<PlatformFiles, PrepareError> {
    prepared
        .fixture
        .files
        .get(platform)
        .cloned()
        .ok_or_else(|| PrepareError::NoPlatformFile {
            fixture: fixture.into(),
            platform: platform.into(),
            board: board.into(),
        })
}

//! The PIC32MZ platform layer (`aws_ota_pal.c`, docs/protocol.md §6.3) over the sim flash.
//!
//! - create: erases the upper bank (the only copy of the previous image, if any);
//! - write: at `upper bank + 8 + offset` (the OTA file has no 8-byte header);
//! - close: verifies the signature with the certificate `certfile` names (looked up in
//!   the board's cert folder; missing → the compiled-in trusted certificate), then writes
//!   header (flag New) and trailer; a signature failure erases the upper bank;
//! - accept while PendingCommit: flag Valid, watchdog off, erase the old (upper) bank;
//! - reject/abort while PendingCommit: flag Invalid; otherwise: erase the upper bank.
//!
//! The PAL also remembers whether it rejected an image since it last created a receive
//! file ([`PlatformPal::rejected`]): the `reset_hangs` quirk (`sim::runtime`) hangs the
//! software reset that follows a rejection, as in the field report.
//!
//! Errors carry the generation's codes (§4.7): v1 agent code in bits 31..24
//! (`0x01000000` SignatureCheckFailed, ...), v3 the plain `OtaPalMainStatus_t` (`0xe3`,
//! ...); the sub-code is the PAL's negative status masked to 24 bits.
//! `write_block` failures carry code 0 and the sub-code (the PAL returns a byte count).

use std::path::{Component, Path, PathBuf};

use p256::ecdsa::VerifyingKey;

use super::agent::AgentKind;
use super::codesign;
use super::console::Console;
use super::flash::Flash;
use super::image::{flags, Descriptor, Trailer, DESCRIPTOR_LEN, HEADER_LEN, SIG_TYPE, TRAILER_LEN};
use super::pal::{FileContext, ImageState, Pal, PalError, PalImageState};

const LOWER: usize = 0;
const UPPER: usize = 1;

/// PIC32MZ PAL sub-codes (negative ints, low 24 bits).
pub mod sub {
    pub const INVALID_CONTEXT: u32 = 0x00ff_ffff;
    pub const ADDRESS_OUT_OF_RANGE: u32 = 0x00ff_fffe;
    pub const FLASH_WRITE_FAIL: u32 = 0x00ff_fffd;
    pub const FLASH_ERASE_FAIL: u32 = 0x00ff_fffc;
    pub const NOT_PENDING_COMMIT: u32 = 0x00ff_fffb;
}

/// The PAL failures this port can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    SignatureCheckFailed,
    BadSignerCert,
    RxFileCreateFailed,
    RxFileTooLarge,
    FileClose,
    CommitFailed,
    RejectFailed,
    AbortFailed,
}

impl Failure {
    /// The main code for an agent generation: v1 agent code in bits 31..24, v3 the
    /// plain `OtaPalMainStatus_t` (the agent's `codes` module reads both).
    pub fn code(self, generation: AgentKind) -> u32 {
        let (v1, v3): (u32, u32) = match self {
            Failure::SignatureCheckFailed => (0x01, 0xe3),
            Failure::BadSignerCert => (0x02, 0xe7),
            Failure::RxFileCreateFailed => (0x12, 0xe4),
            Failure::RxFileTooLarge => (0x14, 0xe5),
            Failure::FileClose => (0x11, 0xee),
            Failure::CommitFailed => (0x05, 0xeb),
            Failure::RejectFailed => (0x06, 0xea),
            Failure::AbortFailed => (0x07, 0xe9),
        };
        match generation {
            AgentKind::V1 => v1 << 24,
            AgentKind::V3 => v3,
        }
    }
}

pub struct PlatformPal {
    pub flash: Flash,
    pub console: Console,
    generation: AgentKind,
    /// The compiled-in code-signing certificate's key (`aws_ota_codesigner_certificate.h`).
    trusted: VerifyingKey,
    cert_dir: PathBuf,
    watchdog: bool,
    /// The agent rejected an image (`set_image_state(Rejected)`) since the last
    /// `create_file` of this boot.
    rejected: bool,
}

impl PlatformPal {
    pub fn new(
        flash: Flash,
        console: Console,
        generation: AgentKind,
        trusted: VerifyingKey,
        cert_dir: PathBuf,
        watchdog: bool,
    ) -> PlatformPal {
        PlatformPal {
            flash,
            console,
            generation,
            trusted,
            cert_dir,
            watchdog,
            rejected: false,
        }
    }

    /// Whether an image was rejected in this boot and no new receive file was created
    /// since: a software reset now is the reset the agent forces after a rejection.
    pub fn rejected(&self) -> bool {
        self.rejected
    }

    /// Whether the bootloader's watchdog still runs (the PAL disables it on accept).
    pub fn watchdog_armed(&self) -> bool {
        self.watchdog
    }

    /// Gives the flash and console back (at a reset).
    pub fn into_parts(self) -> (Flash, Console) {
        (self.flash, self.console)
    }

    fn err(&self, f: Failure, sub: u32) -> PalError {
        PalError {
            code: f.code(self.generation),
            sub,
        }
    }

    fn flag(&self, bank: usize) -> Option<u8> {
        let d = self.flash.read(bank, 0, DESCRIPTOR_LEN).ok()?;
        let d = Descriptor::parse(d.as_slice().try_into().ok()?);
        d.magic_ok.then_some(d.flags)
    }

    fn pending_bank(&self) -> Option<usize> {
        [LOWER, UPPER]
            .into_iter()
            .find(|&b| self.flag(b) == Some(flags::COMMIT_PENDING))
    }

    fn set_flag(&mut self, bank: usize, flag: u8) -> bool {
        self.flash
            .program(bank, HEADER_LEN as u32 - 1, &[flag])
            .is_ok()
    }

    /// The signer's key: the certificate labelled `certfile`, or the compiled-in one.
    fn signer(&mut self, certfile: &str) -> Result<VerifyingKey, PalError> {
        let path = label_path(&self.cert_dir, certfile);
        match path.filter(|p| p.is_file()) {
            Some(p) => match codesign::load_public(&p) {
                Ok(k) => {
                    self.console.pal(&format!(
                        "[prvPAL_ReadAndAssumeCertificate] Using cert with label: {certfile} OK"
                    ));
                    Ok(k)
                }
                Err(_) => Err(self.err(Failure::BadSignerCert, 0)),
            },
            None => {
                self.console.pal(&format!(
                    "[prvPAL_ReadAndAssumeCertificate] No such certificate file: {certfile}. Using aws_ota_codesigner_certificate.h."
                ));
                Ok(self.trusted)
            }
        }
    }

    fn check_signature(&mut self, file: &FileContext) -> Result<(), PalError> {
        self.console.pal(&format!(
            "[prvPAL_CheckFileSignature] Started {SIG_TYPE} signature verification, file: {}",
            file.filepath
        ));
        let key = self.signer(&file.certfile)?;
        let Some(sig) = &file.signature else {
            return Err(self.err(Failure::SignatureCheckFailed, 0));
        };
        let data = self
            .flash
            .read(UPPER, HEADER_LEN as u32, file.filesize as usize)
            .map_err(|_| self.err(Failure::SignatureCheckFailed, sub::ADDRESS_OUT_OF_RANGE))?;
        if codesign::verify(&key, &data, sig) {
            Ok(())
        } else {
            Err(self.err(Failure::SignatureCheckFailed, 0))
        }
    }

    /// `prvContextUpdateImageHeaderAndTrailer`.
    fn write_header_and_trailer(&mut self, signature: &[u8]) -> bool {
        let Ok(bytes) = self.flash.read(UPPER, 0, DESCRIPTOR_LEN) else {
            return false;
        };
        let mut d = Descriptor::parse(bytes.as_slice().try_into().expect("32 bytes"));
        d.flags = flags::NEW;
        let header_ok = self.flash.program(UPPER, 0, &d.header()).is_ok();
        self.console.pal(&format!(
            "[prvContextUpdateImageHeaderAndTrailer] OTA Sequence Number: {}",
            d.sequence as i32
        ));
        self.console.pal(&format!(
            "[prvContextUpdateImageHeaderAndTrailer] Image - Start: 0x{:08x}, End: 0x{:08x}",
            d.start, d.end
        ));
        if !header_ok {
            return false;
        }
        let Some(at) = d.trailer_offset(self.flash.bank_size()) else {
            return false;
        };
        self.console.pal(&format!(
            "[prvContextUpdateImageHeaderAndTrailer] Writing Trailer at: 0x{:08x}",
            self.flash.bank_address(UPPER) + at
        ));
        let trailer = Trailer {
            sig_type: SIG_TYPE.into(),
            signature: signature.to_vec(),
        };
        self.flash.program(UPPER, at, &trailer.to_bytes()).is_ok()
    }
}

/// A certificate label as a file in the cert folder; labels that leave it are absent.
fn label_path(dir: &Path, label: &str) -> Option<PathBuf> {
    let rel = Path::new(label);
    let inside = !label.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    inside.then(|| dir.join(rel))
}

impl Pal for PlatformPal {
    fn platform_image_state(&mut self) -> PalImageState {
        match self.flag(LOWER) {
            None => PalImageState::Invalid,
            Some(flags::COMMIT_PENDING) => PalImageState::PendingCommit,
            Some(_) => match self
                .flash
                .read(UPPER, HEADER_LEN as u32 - 1, 1)
                .map(|b| b[0])
            {
                Ok(flags::COMMIT_PENDING) => PalImageState::PendingCommit,
                Ok(flags::NEW) | Ok(flags::VALID) => PalImageState::Valid,
                _ => PalImageState::Invalid,
            },
        }
    }

    fn create_file(&mut self, file: &FileContext) -> Result<(), PalError> {
        let room = self.flash.bank_size() as u64 - (HEADER_LEN + TRAILER_LEN) as u64;
        if file.filesize as u64 > room {
            return Err(self.err(Failure::RxFileTooLarge, 0));
        }
        self.rejected = false;
        if self.flash.erase_bank(UPPER).is_err() {
            self.console
                .pal("[prvPAL_CreateFileForRx] Error: Failed to erase the flash!");
            return Err(self.err(Failure::RxFileCreateFailed, sub::FLASH_ERASE_FAIL));
        }
        self.console
            .pal("[prvPAL_CreateFileForRx] Receive file created.");
        Ok(())
    }

    fn write_block(&mut self, offset: u32, data: &[u8]) -> Result<(), PalError> {
        let at = (HEADER_LEN as u32).checked_add(offset);
        let fits =
            at.is_some_and(|a| a as u64 + data.len() as u64 <= self.flash.bank_size() as u64);
        if !fits {
            return Err(PalError {
                code: 0,
                sub: sub::ADDRESS_OUT_OF_RANGE,
            });
        }
        self.flash
            .program(UPPER, at.expect("checked"), data)
            .map_err(|_| PalError {
                code: 0,
                sub: sub::FLASH_WRITE_FAIL,
            })
    }

    fn close_file(&mut self, file: &FileContext) -> Result<(), PalError> {
        self.console
            .pal("[prvPAL_CloseFile] Authenticating and closing file.");
        match self.check_signature(file) {
            Ok(()) => {
                self.console.pal(&format!(
                    "[prvPAL_CloseFile] {SIG_TYPE} signature verification passed."
                ));
                let sig = file.signature.clone().unwrap_or_default();
                if self.write_header_and_trailer(&sig) {
                    self.console.pal("[prvPAL_CloseFile] Image header updated.");
                    Ok(())
                } else {
                    self.console
                        .pal("[prvPAL_CloseFile] ERROR: Failed to update the image header.");
                    Err(self.err(Failure::FileClose, sub::ADDRESS_OUT_OF_RANGE))
                }
            }
            Err(e) => {
                self.console.pal(&format!(
                    "[prvPAL_CloseFile] ERROR: Failed to pass {SIG_TYPE} signature verification: {}.",
                    e.code as i32
                ));
                if self.flash.erase_bank(UPPER).is_err() {
                    self.console
                        .pal("[prvPAL_CheckFileSignature] Error: Failed to erase the flash !");
                }
                Err(e)
            }
        }
    }

    fn abort(&mut self, _file: &FileContext) -> Result<(), PalError> {
        self.console.pal("[prvPAL_Abort] Abort - OK");
        Ok(())
    }

    fn set_image_state(&mut self, state: ImageState) -> Result<(), PalError> {
        let pending = self.pending_bank();
        match state {
            ImageState::Testing => Ok(()),
            ImageState::Accepted => {
                let Some(bank) = pending else {
                    let e = self.err(Failure::CommitFailed, sub::NOT_PENDING_COMMIT);
                    self.console.pal(&format!(
                        "[prvPAL_SetPlatformImageState] Not in commit pending so can not mark image valid ({}).",
                        (e.code | e.sub) as i32
                    ));
                    return Err(e);
                };
                if !self.set_flag(bank, flags::VALID) {
                    let e = self.err(Failure::CommitFailed, sub::FLASH_WRITE_FAIL);
                    self.console.pal(&format!(
                        "[prvPAL_SetPlatformImageState] Accepted final image but commit failed ({}).",
                        (e.code | e.sub) as i32
                    ));
                    return Err(e);
                }
                self.watchdog = false;
                self.console
                    .pal("[prvPAL_WatchdogDisable] Disable watchdog timer.");
                if self.flash.erase_bank(1 - bank).is_err() {
                    self.console.pal(
                        "[prvPAL_SetPlatformImageState] Warning: Failed to erase the other image!",
                    );
                }
                self.console
                    .pal("[prvPAL_SetPlatformImageState] Accepted and committed final image.");
                Ok(())
            }
            ImageState::Rejected | ImageState::Aborted => {
                let (what, failure) = if state == ImageState::Rejected {
                    // Whether or not the flags can be written: the agent goes on to fail
                    // the job and force a reset either way.
                    self.rejected = true;
                    ("Rejected", Failure::RejectFailed)
                } else {
                    ("Aborted", Failure::AbortFailed)
                };
                let ok = match pending {
                    Some(bank) => self.set_flag(bank, flags::INVALID),
                    None => self.flash.erase_bank(UPPER).is_ok(),
                };
                if !ok {
                    let e = self.err(failure, sub::FLASH_WRITE_FAIL);
                    self.console.pal(&format!(
                        "[prvPAL_SetPlatformImageState] Failed updating the flags.({}).",
                        (e.code | e.sub) as i32
                    ));
                    return Err(e);
                }
                self.console
                    .pal(&format!("[prvPAL_SetPlatformImageState] {what} image."));
                Ok(())
            }
        }
    }

    fn log(&mut self, line: &str) {
        self.console.agent(line);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::sim::bootloader::tests::{flash, key, put, BANK};
    use crate::sim::bootloader::{boot, Boot};
    use crate::sim::console::Sink;
    use crate::sim::image::{encode_app, ota_file};

    struct Rig {
        pal: PlatformPal,
        lines: Arc<Mutex<Vec<String>>>,
        _certs: tempfile::TempDir,
    }

    fn rig(f: Flash) -> Rig {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut console = Console::new(Sink::Buffer(lines.clone()));
        console.set_style(AgentKind::V1);
        let certs = tempfile::tempdir().unwrap();
        let pal = PlatformPal::new(
            f,
            console,
            AgentKind::V1,
            *key().verifying_key(),
            certs.path().into(),
            true,
        );
        Rig {
            pal,
            lines,
            _certs: certs,
        }
    }

    fn saw(r: &Rig, text: &str) -> bool {
        r.lines.lock().unwrap().iter().any(|l| l.contains(text))
    }

    fn context(file: &[u8], signature: Option<Vec<u8>>) -> FileContext {
        FileContext {
            filepath: "app.bin".into(),
            filesize: file.len() as u32,
            fileid: 0,
            certfile: "codesign.pem".into(),
            signature,
        }
    }

    /// Receives `file` in 1 KiB blocks, as the agent does.
    fn receive(r: &mut Rig, file: &[u8], sig: Option<Vec<u8>>) -> Result<(), PalError> {
        let ctx = context(file, sig);
        r.pal.create_file(&ctx)?;
        for (i, block) in file.chunks(1024).enumerate() {
            r.pal.write_block(i as u32 * 1024, block)?;
        }
        r.pal.close_file(&ctx)
    }

    fn new_file(seq: u32) -> Vec<u8> {
        ota_file(
            seq,
            &encode_app(&crate::sim::image::tests::personality(), 3000),
        )
    }

    #[test]
    fn a_good_download_becomes_a_new_image_the_bootloader_starts_under_watchdog() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        let mut r = rig(f);
        assert_eq!(r.pal.platform_image_state(), PalImageState::Valid);
        let file = new_file(3);
        receive(&mut r, &file, Some(codesign::sign(&key(), &file))).unwrap();
        assert!(saw(&r, "[prvPAL_ReadAndAssumeCertificate] No such certificate file: codesign.pem. Using aws_ota_codesigner_certificate.h."));
        assert!(saw(
            &r,
            "[OTA Task] [prvPAL_CloseFile] Image header updated."
        ));
        assert!(saw(&r, "OTA Sequence Number: 3"));
        let (mut f, _) = r.pal.into_parts();
        assert_eq!(f.read(UPPER, 7, 1).unwrap()[0], flags::NEW);
        let report = boot(&mut f, key().verifying_key()).unwrap();
        assert_eq!(
            report.boot,
            Boot::Launch {
                sequence: 3,
                watchdog: true
            }
        );
        // After the reboot: PendingCommit, accept → Valid, watchdog off, old bank erased.
        let mut r = rig(f);
        assert_eq!(r.pal.platform_image_state(), PalImageState::PendingCommit);
        r.pal.set_image_state(ImageState::Accepted).unwrap();
        assert!(!r.pal.watchdog_armed());
        assert!(saw(&r, "[prvPAL_WatchdogDisable] Disable watchdog timer."));
        assert!(saw(&r, "Accepted and committed final image."));
        assert_eq!(r.pal.flag(LOWER), Some(flags::VALID));
        assert_eq!(r.pal.flag(UPPER), None, "old image erased");
        assert_eq!(r.pal.platform_image_state(), PalImageState::Valid);
    }

    #[test]
    fn a_bad_signature_fails_with_the_generation_code_and_erases_the_upper_bank() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        let mut r = rig(f);
        let file = new_file(3);
        let other = p256::ecdsa::SigningKey::from_slice(&[8u8; 32]).unwrap();
        let err = receive(&mut r, &file, Some(codesign::sign(&other, &file))).unwrap_err();
        assert_eq!(
            err,
            PalError {
                code: 0x0100_0000,
                sub: 0
            }
        );
        assert!(saw(
            &r,
            "ERROR: Failed to pass sig-sha256-ecdsa signature verification: 16777216."
        ));
        assert!(r
            .pal
            .flash
            .read(UPPER, 0, BANK as usize)
            .unwrap()
            .iter()
            .all(|&b| b == 0xFF));
        assert_eq!(Failure::SignatureCheckFailed.code(AgentKind::V3), 0xe3);
    }

    #[test]
    fn a_certificate_named_by_certfile_is_used_when_present() {
        let mut r = rig(flash());
        let other = p256::ecdsa::SigningKey::from_slice(&[8u8; 32]).unwrap();
        let pem = p256::pkcs8::EncodePublicKey::to_public_key_pem(
            other.verifying_key(),
            Default::default(),
        )
        .unwrap();
        std::fs::write(r._certs.path().join("codesign.pem"), pem).unwrap();
        let file = new_file(3);
        receive(&mut r, &file, Some(codesign::sign(&other, &file))).unwrap();
        assert!(saw(&r, "Using cert with label: codesign.pem OK"));
    }

    #[test]
    fn a_one_byte_file_passes_the_signature_but_cannot_get_a_trailer() {
        let mut r = rig(flash());
        let file = [0x42u8];
        let err = receive(&mut r, &file, Some(codesign::sign(&key(), &file))).unwrap_err();
        assert_eq!(
            err,
            PalError {
                code: 0x1100_0000,
                sub: sub::ADDRESS_OUT_OF_RANGE
            }
        );
        assert!(saw(&r, "signature verification passed."));
        assert!(saw(&r, "ERROR: Failed to update the image header."));
    }

    #[test]
    fn reject_while_pending_marks_invalid_and_otherwise_erases_the_upper_bank() {
        let mut f = flash();
        put(&mut f, 0, 3, flags::COMMIT_PENDING, &key());
        put(&mut f, 1, 2, flags::VALID, &key());
        let mut r = rig(f);
        r.pal.set_image_state(ImageState::Rejected).unwrap();
        assert_eq!(r.pal.flag(LOWER), Some(flags::INVALID));
        assert_eq!(r.pal.flag(UPPER), Some(flags::VALID));
        assert!(saw(&r, "[prvPAL_SetPlatformImageState] Rejected image."));
        // Not pending: reject erases the other bank.
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        put(&mut f, 1, 3, flags::NEW, &key());
        let mut r = rig(f);
        r.pal.set_image_state(ImageState::Aborted).unwrap();
        assert_eq!(r.pal.flag(UPPER), None);
        assert!(saw(&r, "Aborted image."));
    }

    #[test]
    fn a_rejection_is_remembered_until_the_next_receive_file() {
        // The same-version path: the running image is not pending, the downloaded copy
        // of it is New in the upper bank; the agent rejects it, then forces a reset.
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        put(&mut f, 1, 2, flags::NEW, &key());
        let mut r = rig(f);
        assert!(
            !r.pal.rejected(),
            "an activation reset is no reset after a reject"
        );
        r.pal.set_image_state(ImageState::Testing).unwrap();
        r.pal.set_image_state(ImageState::Aborted).unwrap();
        assert!(!r.pal.rejected(), "an abort is no rejection");
        r.pal.set_image_state(ImageState::Rejected).unwrap();
        assert!(r.pal.rejected());
        assert_eq!(
            r.pal.flag(UPPER),
            None,
            "not pending: the other bank is erased"
        );
        // A new download starts a new image: its activation reset follows no rejection.
        let file = new_file(3);
        receive(&mut r, &file, Some(codesign::sign(&key(), &file))).unwrap();
        assert!(!r.pal.rejected());
    }

    #[test]
    fn accept_when_not_pending_fails_with_0x05fffffb() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        let mut r = rig(f);
        let e = r.pal.set_image_state(ImageState::Accepted).unwrap_err();
        assert_eq!(e.code | e.sub, 0x05ff_fffb);
        assert!(saw(&r, "Not in commit pending so can not mark image valid"));
        assert!(r.pal.watchdog_armed());
    }

    #[test]
    fn platform_state_without_a_descriptor_is_invalid() {
        let mut r = rig(flash());
        assert_eq!(r.pal.platform_image_state(), PalImageState::Invalid);
    }

    #[test]
    fn labels_cannot_leave_the_cert_folder() {
        assert!(label_path(Path::new("/c"), "../x.pem").is_none());
        assert!(label_path(Path::new("/c"), "/etc/x.pem").is_none());
        assert_eq!(
            label_path(Path::new("/c"), "a/b.pem"),
            Some(PathBuf::from("/c/a/b.pem"))
        );
    }
}

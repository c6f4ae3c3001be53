//! The PIC32MZ reference bootloader, BL 0.9.0 (docs/protocol.md §6.3), as one pure pass over
//! the flash: validate both banks, invalidate failures, pick the winner, mark a New image
//! CommitPending, swap banks so the image runs from the lower bank. The runtime prints
//! the returned lines on the console and starts what it returns.
//!
//! Config as in the reference build: default start ON, signature check ON, erase-invalid
//! ON, address check ON, hardware-id check OFF, watchdog ON.
//!
//! One resolution of the reference text: a bank without the magic code fails validation
//! but is not erased (there is no descriptor to invalidate). Erasing it would kill a
//! factory image programmed without a descriptor at its first boot, whereas the field
//! report has such boards running until their first OTA ("Booting default image.").

use p256::ecdsa::VerifyingKey;

use super::codesign;
use super::flash::{Flash, FlashError};
use super::image::{flags, Descriptor, Trailer, DESCRIPTOR_LEN, HEADER_LEN, SIG_TYPE, TRAILER_LEN};

/// What the bootloader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// A validated image, now in the lower bank.
    Launch {
        sequence: u32,
        /// The image was New: it is now CommitPending and the watchdog runs.
        watchdog: bool,
    },
    /// No valid image: jump into the lower bank unchecked.
    Default,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootReport {
    /// Console lines, in order.
    pub lines: Vec<String>,
    pub boot: Boot,
}

/// Runs one boot over `flash` with the bootloader's compiled-in code-signing key.
pub fn boot(flash: &mut Flash, key: &VerifyingKey) -> Result<BootReport, FlashError> {
    let mut lines = vec![
        "Bootloader version 00.09.00".to_string(),
        "[prvBOOT_Init] Watchdog timer initialized.".to_string(),
        "[prvBOOT_Init] Crypto initialized.".to_string(),
    ];
    let mut valid: [Option<Descriptor>; 2] = [None, None];
    for (bank, slot) in valid.iter_mut().enumerate() {
        let addr = flash.bank_address(bank);
        let desc = read_descriptor(flash, bank)?;
        if validate(flash, bank, &desc, key, &mut lines)? {
            *slot = Some(desc);
        } else {
            lines.push(format!(
                "[prvBOOT_ValidateImages] Validation failed for image at 0x{addr:08x}"
            ));
            if desc.magic_ok {
                flash.program(bank, 0, &[0u8; DESCRIPTOR_LEN])?;
                flash.erase_bank(bank)?;
            }
        }
    }
    // Strictly higher sequence wins; the lower bank is checked first, so it wins ties.
    let winner = match (valid[0], valid[1]) {
        (Some(l), Some(u)) => Some(if u.sequence > l.sequence { 1 } else { 0 }),
        (Some(_), None) => Some(0),
        (None, Some(_)) => Some(1),
        (None, None) => None,
    };
    let Some(bank) = winner else {
        lines.push("[prvBOOT_ValidateImages] Booting default image.".into());
        return Ok(BootReport {
            lines,
            boot: Boot::Default,
        });
    };
    let desc = valid[bank].expect("winner is valid");
    let addr = flash.bank_address(bank);
    lines.push(format!(
        "[prvBOOT_ValidateImages] Booting image with sequence number {} at 0x{addr:08x}",
        desc.sequence
    ));
    let watchdog = desc.flags == flags::NEW;
    if watchdog {
        lines.push(format!(
            "[prvBOOT_ExecuteImage] Updating the flags: 0x{:02x}, to: 0x{:02x}, for image at 0x{addr:08x}",
            flags::NEW,
            flags::COMMIT_PENDING
        ));
        flash.program(bank, HEADER_LEN as u32 - 1, &[flags::COMMIT_PENDING])?;
        lines.push("[prvBOOT_ExecuteImage] Watchdog timer started.".into());
    }
    if bank == 1 {
        flash.swap_banks()?;
        lines.push("[BOOT_PAL_LaunchApplicationDesc] Memory banks are swapped.".into());
    }
    Ok(BootReport {
        lines,
        boot: Boot::Launch {
            sequence: desc.sequence,
            watchdog,
        },
    })
}

pub fn read_descriptor(flash: &Flash, bank: usize) -> Result<Descriptor, FlashError> {
    let bytes = flash.read(bank, 0, DESCRIPTOR_LEN)?;
    Ok(Descriptor::parse(
        bytes.as_slice().try_into().expect("32 bytes"),
    ))
}

fn validate(
    flash: &Flash,
    bank: usize,
    desc: &Descriptor,
    key: &VerifyingKey,
    lines: &mut Vec<String>,
) -> Result<bool, FlashError> {
    let addr = flash.bank_address(bank);
    lines.push(format!(
        "[prvValidateImage] Validating image at Bank : {bank}"
    ));
    if !desc.magic_ok {
        lines.push(format!(
            "[prvValidateImage] No application image or magic code present at: 0x{addr:08x}"
        ));
        return Ok(false);
    }
    lines.push(format!(
        "[prvValidateImage] Valid magic code at: 0x{addr:08x}"
    ));
    if desc.flags != flags::NEW && desc.flags != flags::VALID {
        lines.push(format!(
            "[prvValidateImage] Invalid image flags: 0x{:02x} at: 0x{addr:08x}",
            desc.flags
        ));
        return Ok(false);
    }
    lines.push(format!(
        "[prvValidateImage] Valid image flags: 0x{:02x} at: 0x{addr:08x}",
        desc.flags
    ));
    let bank_size = flash.bank_size();
    let (Some(app_len), Some(trailer_at), true) = (
        desc.app_len(),
        desc.trailer_offset(bank_size),
        desc.addresses_valid(bank_size),
    ) else {
        return Ok(false);
    };
    lines.push("[prvValidateImage] Addresses are valid.".into());
    let file = flash.read(
        bank,
        HEADER_LEN as u32,
        DESCRIPTOR_LEN - HEADER_LEN + app_len as usize,
    )?;
    let trailer = Trailer::parse(&flash.read(bank, trailer_at, TRAILER_LEN)?);
    let ok = matches!(&trailer, Some(t) if t.sig_type == SIG_TYPE && codesign::verify(key, &file, &t.signature));
    lines.push(format!(
        "[prvValidateImage] Crypto signature is {}valid.",
        if ok { "" } else { "not " }
    ));
    Ok(ok)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use p256::ecdsa::SigningKey;

    use super::*;
    use crate::sim::flash::{erased_image, MemMedium};
    use crate::sim::image::{bank_image, ota_file};

    pub const BANK: u32 = 16 * 1024;

    pub fn key() -> SigningKey {
        SigningKey::from_slice(&[3u8; 32]).unwrap()
    }

    pub fn flash() -> Flash {
        let m = MemMedium {
            data: erased_image(BANK),
            budget: None,
        };
        Flash::with_medium(Box::new(m), Path::new("mem")).unwrap()
    }

    /// Puts an image with `seq` and `flag` into `bank`, signed with `key`.
    pub fn put(f: &mut Flash, bank: usize, seq: u32, flag: u8, key: &SigningKey) {
        let file = ota_file(seq, &[seq as u8; 500]);
        let sig = codesign::sign(key, &file);
        let img = bank_image(&file, flag, &sig, BANK).unwrap();
        f.erase_bank(bank).unwrap();
        f.program(bank, 0, &img).unwrap();
    }

    fn run(f: &mut Flash) -> BootReport {
        boot(f, key().verifying_key()).unwrap()
    }

    fn flag(f: &Flash, bank: usize) -> u8 {
        f.read(bank, 7, 1).unwrap()[0]
    }

    fn seq(f: &Flash, bank: usize) -> u32 {
        read_descriptor(f, bank).unwrap().sequence
    }

    fn erased(f: &Flash, bank: usize) -> bool {
        f.read(bank, 0, BANK as usize)
            .unwrap()
            .iter()
            .all(|&b| b == 0xFF)
    }

    #[test]
    fn a_valid_lower_image_runs_without_watchdog() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        let r = run(&mut f);
        assert_eq!(
            r.boot,
            Boot::Launch {
                sequence: 2,
                watchdog: false
            }
        );
        assert_eq!(r.lines[0], "Bootloader version 00.09.00");
        assert!(r
            .lines
            .contains(&"[prvValidateImage] Crypto signature is valid.".to_string()));
        assert!(!f.is_swapped());
    }

    #[test]
    fn a_new_upper_image_with_higher_sequence_becomes_commit_pending_and_is_swapped_in() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        put(&mut f, 1, 3, flags::NEW, &key());
        let r = run(&mut f);
        assert_eq!(
            r.boot,
            Boot::Launch {
                sequence: 3,
                watchdog: true
            }
        );
        assert!(f.is_swapped());
        assert_eq!((seq(&f, 0), flag(&f, 0)), (3, flags::COMMIT_PENDING));
        assert_eq!((seq(&f, 1), flag(&f, 1)), (2, flags::VALID));
        assert!(r
            .lines
            .iter()
            .any(|l| l == "[BOOT_PAL_LaunchApplicationDesc] Memory banks are swapped."));
        assert!(r
            .lines
            .iter()
            .any(|l| l.contains("Updating the flags: 0xff, to: 0xfe")));
    }

    #[test]
    fn a_commit_pending_image_is_invalidated_and_erased_and_the_other_runs() {
        let mut f = flash();
        put(&mut f, 0, 3, flags::COMMIT_PENDING, &key());
        put(&mut f, 1, 2, flags::VALID, &key());
        let r = run(&mut f);
        assert!(r
            .lines
            .iter()
            .any(|l| l.contains("Invalid image flags: 0xfe")));
        assert!(r.lines.iter().any(
            |l| l.starts_with("[prvBOOT_ValidateImages] Validation failed for image at 0x9d000000")
        ));
        assert_eq!(
            r.boot,
            Boot::Launch {
                sequence: 2,
                watchdog: false
            }
        );
        // The old lower bank is now the upper one, erased.
        assert!(erased(&f, 1));
        assert_eq!(seq(&f, 0), 2);
    }

    #[test]
    fn invalid_flags_are_erased() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        put(&mut f, 1, 9, flags::INVALID, &key());
        assert_eq!(
            run(&mut f).boot,
            Boot::Launch {
                sequence: 2,
                watchdog: false
            }
        );
        assert!(erased(&f, 1));
    }

    #[test]
    fn ties_go_to_the_lower_bank() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        put(&mut f, 1, 2, flags::NEW, &key());
        assert_eq!(
            run(&mut f).boot,
            Boot::Launch {
                sequence: 2,
                watchdog: false
            }
        );
        assert!(!f.is_swapped());
        assert_eq!(flag(&f, 1), flags::NEW, "the loser is left alone");
    }

    #[test]
    fn a_lower_sequence_upper_image_never_runs() {
        let mut f = flash();
        put(&mut f, 0, 5, flags::VALID, &key());
        put(&mut f, 1, 4, flags::NEW, &key());
        assert_eq!(
            run(&mut f).boot,
            Boot::Launch {
                sequence: 5,
                watchdog: false
            }
        );
    }

    #[test]
    fn an_image_signed_with_another_key_is_erased() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        put(
            &mut f,
            1,
            3,
            flags::NEW,
            &SigningKey::from_slice(&[4u8; 32]).unwrap(),
        );
        let r = run(&mut f);
        assert!(r
            .lines
            .contains(&"[prvValidateImage] Crypto signature is not valid.".to_string()));
        assert_eq!(
            r.boot,
            Boot::Launch {
                sequence: 2,
                watchdog: false
            }
        );
        assert!(erased(&f, 1));
    }

    #[test]
    fn no_valid_image_boots_the_default_image_and_a_bank_without_magic_is_kept() {
        let mut f = flash();
        f.program(0, 32, b"plain build").unwrap();
        let r = run(&mut f);
        assert_eq!(r.boot, Boot::Default);
        assert_eq!(
            r.lines.last().unwrap(),
            "[prvBOOT_ValidateImages] Booting default image."
        );
        assert!(r
            .lines
            .iter()
            .any(|l| l.contains("No application image or magic code present at: 0x9d000000")));
        assert_eq!(f.read(0, 32, 11).unwrap(), b"plain build");
    }

    #[test]
    fn the_brick_chain_leaves_an_erased_lower_bank_to_boot_into() {
        // Factory image without descriptor in the lower bank; an OTA image that fails its
        // self-test (CommitPending at the next boot) after it was swapped in.
        let mut f = flash();
        f.program(0, 32, b"plain build").unwrap();
        put(&mut f, 1, 3, flags::NEW, &key());
        assert_eq!(
            run(&mut f).boot,
            Boot::Launch {
                sequence: 3,
                watchdog: true
            }
        );
        let r = run(&mut f);
        assert_eq!(r.boot, Boot::Default);
        assert!(erased(&f, 0), "the default image jumps into erased flash");
    }

    #[test]
    fn a_corrupted_app_fails_the_signature_check() {
        let mut f = flash();
        put(&mut f, 0, 2, flags::VALID, &key());
        f.program(0, 100, &[0x00]).unwrap();
        assert_eq!(run(&mut f).boot, Boot::Default);
    }
}

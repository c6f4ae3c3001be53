//! The PIC32MZ image format (docs/protocol.md §6.3) and the firmware personality inside it.
//!
//! A bank holds `descriptor (32 bytes) | app | trailer (at the next 16-byte boundary)`:
//!
//! - descriptor: `"@AFRTOS"` + flag byte (the 8-byte header), then little-endian u32s:
//!   sequence number, start, end, exec address, hardware id, reserved;
//! - app: `start..end` in the lower bank's address space (the image always runs there);
//! - trailer: signature type (16 bytes, `sig-sha256-ecdsa`), u32 size, DER signature.
//!
//! The OTA file is the descriptor without its 8-byte header, plus the app: exactly what
//! is streamed and signed. The app of a simulated image encodes its [`Personality`]:
//! `APP_MAGIC`, u32 length, JSON, then deterministic filler up to the fixture's size.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::agent::AgentKind;
use super::flash::FLASH_BASE;
use crate::model::AppOutcome;

pub const MAGIC: &[u8; 7] = b"@AFRTOS";
pub const HEADER_LEN: usize = 8;
pub const DESCRIPTOR_LEN: usize = 32;
/// The part of the descriptor that is inside the OTA file.
pub const FILE_DESCRIPTOR_LEN: usize = DESCRIPTOR_LEN - HEADER_LEN;
pub const SIG_TYPE: &str = "sig-sha256-ecdsa";
pub const SIG_TYPE_LEN: usize = 16;
/// Room for the largest DER ECDSA P-256 signature (72 bytes).
pub const MAX_SIG_LEN: usize = 72;
pub const TRAILER_LEN: usize = SIG_TYPE_LEN + 4 + MAX_SIG_LEN;
/// Where apps start and run: just after the descriptor, in the lower bank.
pub const APP_START: u32 = FLASH_BASE + DESCRIPTOR_LEN as u32;
/// Hardware id of the PIC32MZ EF curiosity board in the sim (not checked by BL 0.9.0).
pub const PIC32MZ_HWID: u32 = 0x0000_0001;

/// Marks the start of a simulated app; anything else in its place "crashes".
pub const APP_MAGIC: &[u8; 8] = b"OTARIGAP";

/// Image flag byte values (the bootloader's and PAL's state of an image).
pub mod flags {
    pub const NEW: u8 = 0xFF;
    pub const COMMIT_PENDING: u8 = 0xFE;
    pub const VALID: u8 = 0xFC;
    pub const INVALID: u8 = 0xF8;
}

/// The 32-byte descriptor at the start of a bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub magic_ok: bool,
    pub flags: u8,
    pub sequence: u32,
    pub start: u32,
    pub end: u32,
    pub exec: u32,
    pub hardware_id: u32,
}

impl Descriptor {
    /// The descriptor of an app of `app_len` bytes.
    pub fn for_app(sequence: u32, app_len: usize, flags: u8) -> Descriptor {
        Descriptor {
            magic_ok: true,
            flags,
            sequence,
            start: APP_START,
            end: APP_START + app_len as u32,
            exec: APP_START,
            hardware_id: PIC32MZ_HWID,
        }
    }

    pub fn parse(bytes: &[u8; DESCRIPTOR_LEN]) -> Descriptor {
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        Descriptor {
            magic_ok: &bytes[..7] == MAGIC,
            flags: bytes[7],
            sequence: word(8),
            start: word(12),
            end: word(16),
            exec: word(20),
            hardware_id: word(24),
        }
    }

    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..7].copy_from_slice(MAGIC);
        h[7] = self.flags;
        h
    }

    /// The 24 bytes after the header (the start of the OTA file); reserved = 0xFFFFFFFF.
    pub fn file_part(&self) -> [u8; FILE_DESCRIPTOR_LEN] {
        let mut b = [0xFFu8; FILE_DESCRIPTOR_LEN];
        for (i, w) in [
            self.sequence,
            self.start,
            self.end,
            self.exec,
            self.hardware_id,
        ]
        .into_iter()
        .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_LEN] {
        let mut b = [0u8; DESCRIPTOR_LEN];
        b[..HEADER_LEN].copy_from_slice(&self.header());
        b[HEADER_LEN..].copy_from_slice(&self.file_part());
        b
    }

    /// Length of the app, if the addresses are sane.
    pub fn app_len(&self) -> Option<u32> {
        self.end.checked_sub(self.start)
    }

    /// Bank offset of the trailer (16-byte aligned after the app), if the end address is
    /// inside a bank of `bank_size` bytes with room for the trailer.
    pub fn trailer_offset(&self, bank_size: u32) -> Option<u32> {
        let end = self.end.checked_sub(FLASH_BASE)?;
        let off = end.checked_add(15)? & !15;
        (off as u64 + TRAILER_LEN as u64 <= bank_size as u64).then_some(off)
    }

    /// BL 0.9.0's address check: start, end and exec inside the lower bank, in order.
    pub fn addresses_valid(&self, bank_size: u32) -> bool {
        self.start >= APP_START
            && self.start <= self.exec
            && self.exec < self.end
            && self.trailer_offset(bank_size).is_some()
    }
}

/// The signature trailer written after the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub sig_type: String,
    pub signature: Vec<u8>,
}

impl Trailer {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; TRAILER_LEN];
        let t = self.sig_type.as_bytes();
        b[..t.len().min(SIG_TYPE_LEN)].copy_from_slice(&t[..t.len().min(SIG_TYPE_LEN)]);
        let n = self.signature.len().min(MAX_SIG_LEN);
        b[SIG_TYPE_LEN..SIG_TYPE_LEN + 4].copy_from_slice(&(n as u32).to_le_bytes());
        b[SIG_TYPE_LEN + 4..SIG_TYPE_LEN + 4 + n].copy_from_slice(&self.signature[..n]);
        b
    }

    pub fn parse(bytes: &[u8]) -> Option<Trailer> {
        if bytes.len() < TRAILER_LEN {
            return None;
        }
        let t = &bytes[..SIG_TYPE_LEN];
        let tlen = t
            .iter()
            .position(|&c| c == 0 || c == 0xFF)
            .unwrap_or(SIG_TYPE_LEN);
        let size =
            u32::from_le_bytes(bytes[SIG_TYPE_LEN..SIG_TYPE_LEN + 4].try_into().ok()?) as usize;
        if size > MAX_SIG_LEN {
            return None;
        }
        Some(Trailer {
            sig_type: String::from_utf8_lossy(&t[..tlen]).into_owned(),
            signature: bytes[SIG_TYPE_LEN + 4..SIG_TYPE_LEN + 4 + size].to_vec(),
        })
    }
}

/// A version `major.minor.build` (`AppVersion32_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub build: u16,
}

impl Version {
    pub fn tuple(self) -> (u8, u8, u16) {
        (self.major, self.minor, self.build)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("version `{s}`: expected major.minor.build, e.g. 0.9.4 (major, minor ≤ 255, build ≤ 65535)")
        };
        let mut it = s.trim().split('.');
        let (Some(a), Some(b), Some(c), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        Ok(Version {
            major: a.parse().map_err(|_| bad())?,
            minor: b.parse().map_err(|_| bad())?,
            build: c.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Firmware bugs a build can carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quirks {
    /// The software reset the agent forces after it rejected an image hangs the board
    /// until power is removed (the reset line too); other resets work (`sim::runtime`).
    pub reset_hangs: bool,
}

/// Delays of a build (short in tests, realistic at night).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delays {
    #[serde(with = "humantime_serde")]
    pub self_test_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub boot: Duration,
    #[serde(with = "humantime_serde")]
    pub flash_sector: Duration,
    #[serde(with = "humantime_serde")]
    pub file_request_wait: Duration,
    /// Bootloader watchdog period for a New image, until the PAL disables it on accept.
    #[serde(with = "humantime_serde")]
    pub watchdog: Duration,
    /// How long a crashing app runs before it faults.
    #[serde(with = "humantime_serde")]
    pub crash_after: Duration,
}

impl Default for Delays {
    fn default() -> Self {
        Delays {
            self_test_timeout: Duration::from_secs(3),
            boot: Duration::from_millis(100),
            flash_sector: Duration::ZERO,
            file_request_wait: Duration::from_secs(1),
            watchdog: Duration::from_secs(8),
            crash_after: Duration::from_millis(300),
        }
    }
}

/// The firmware personality: everything the sim needs to behave as this build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Personality {
    pub version: Version,
    /// Thing name compiled into the build; `None` = read from NVS (the fix).
    pub thing_name: Option<String>,
    pub platform: String,
    pub hardware_id: u32,
    pub agent: AgentKind,
    pub outcome: AppOutcome,
    pub quirks: Quirks,
    pub delays: Delays,
    pub log2_block_size: u8,
    pub blocks_per_request: u32,
}

/// Encodes an app: magic, length, personality JSON, then filler up to `size` bytes.
pub fn encode_app(p: &Personality, size: usize) -> Vec<u8> {
    let json = serde_json::to_vec(p).expect("personality serializes");
    let mut app = Vec::with_capacity(size.max(json.len() + 12));
    app.extend_from_slice(APP_MAGIC);
    app.extend_from_slice(&(json.len() as u32).to_le_bytes());
    app.extend_from_slice(&json);
    let seed = u64::from(p.version.major) << 32
        | u64::from(p.version.minor) << 16
        | u64::from(p.version.build);
    fill(&mut app, size, seed);
    app
}

/// Deterministic pseudo-random filler (xorshift64*), so downloads have realistic bytes.
pub fn fill(buf: &mut Vec<u8>, size: usize, seed: u64) {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    while buf.len() < size {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let take = (size - buf.len()).min(8);
        buf.extend_from_slice(&v.to_le_bytes()[..take]);
    }
}

/// Reads the personality of an app, or why there is none (the app "crashes").
pub fn decode_app(app: &[u8]) -> Result<Personality, String> {
    if app.len() < 12 || &app[..8] != APP_MAGIC {
        return Err("no otarig app at the entry point".into());
    }
    let len = u32::from_le_bytes(app[8..12].try_into().expect("4 bytes")) as usize;
    let json = app
        .get(12..12 + len)
        .ok_or_else(|| format!("personality length {len} runs past the app"))?;
    serde_json::from_slice(json).map_err(|e| format!("personality does not parse: {e}"))
}

/// The OTA file of an app: descriptor without header, then the app.
pub fn ota_file(sequence: u32, app: &[u8]) -> Vec<u8> {
    let d = Descriptor::for_app(sequence, app.len(), flags::NEW);
    let mut f = d.file_part().to_vec();
    f.extend_from_slice(app);
    f
}

/// A whole bank image: header with `flags`, the OTA file, the trailer at its place.
pub fn bank_image(ota_file: &[u8], flags: u8, signature: &[u8], bank_size: u32) -> Option<Vec<u8>> {
    let fp: [u8; FILE_DESCRIPTOR_LEN] = ota_file.get(..FILE_DESCRIPTOR_LEN)?.try_into().ok()?;
    let mut desc_bytes = [0u8; DESCRIPTOR_LEN];
    desc_bytes[HEADER_LEN..].copy_from_slice(&fp);
    let mut d = Descriptor::parse(&desc_bytes);
    d.flags = flags;
    let trailer_at = d.trailer_offset(bank_size)? as usize;
    if HEADER_LEN + ota_file.len() > trailer_at {
        return None;
    }
    let mut bank = vec![0xFFu8; bank_size as usize];
    bank[..HEADER_LEN].copy_from_slice(&d.header());
    bank[HEADER_LEN..HEADER_LEN + ota_file.len()].copy_from_slice(ota_file);
    let trailer = Trailer {
        sig_type: SIG_TYPE.into(),
        signature: signature.to_vec(),
    };
    bank[trailer_at..trailer_at + TRAILER_LEN].copy_from_slice(&trailer.to_bytes());
    Some(bank)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn personality() -> Personality {
        Personality {
            version: "0.9.4".parse().unwrap(),
            thing_name: None,
            platform: "pic32mz".into(),
            hardware_id: PIC32MZ_HWID,
            agent: AgentKind::V1,
            outcome: AppOutcome::Pass,
            quirks: Quirks::default(),
            delays: Delays::default(),
            log2_block_size: 10,
            blocks_per_request: 1,
        }
    }

    #[test]
    fn descriptor_roundtrips_through_bytes() {
        let d = Descriptor::for_app(7, 1000, flags::VALID);
        assert_eq!(Descriptor::parse(&d.to_bytes()), d);
        assert_eq!(&d.to_bytes()[..7], b"@AFRTOS");
        assert_eq!(d.to_bytes()[7], 0xFC);
    }

    #[test]
    fn app_roundtrips_its_personality_and_has_the_requested_size() {
        let p = personality();
        let app = encode_app(&p, 20_000);
        assert_eq!(app.len(), 20_000);
        assert_eq!(decode_app(&app).unwrap(), p);
        assert_eq!(app, encode_app(&p, 20_000), "deterministic");
    }

    #[test]
    fn garbage_has_no_personality() {
        let mut g = Vec::new();
        fill(&mut g, 4096, 1);
        assert!(decode_app(&g).is_err());
        assert!(decode_app(&[0xFF; 64]).is_err());
    }

    #[test]
    fn bank_image_places_header_file_and_trailer() {
        let app = encode_app(&personality(), 3000);
        let file = ota_file(3, &app);
        let bank = bank_image(&file, flags::VALID, &[0x30, 0x44, 1, 2], 64 * 1024).unwrap();
        let d = Descriptor::parse(bank[..32].try_into().unwrap());
        assert!(d.magic_ok);
        assert_eq!(
            (d.flags, d.sequence, d.app_len()),
            (flags::VALID, 3, Some(3000))
        );
        assert!(d.addresses_valid(64 * 1024));
        let at = d.trailer_offset(64 * 1024).unwrap() as usize;
        assert_eq!(at % 16, 0);
        let t = Trailer::parse(&bank[at..]).unwrap();
        assert_eq!(
            (t.sig_type.as_str(), t.signature.as_slice()),
            (SIG_TYPE, &[0x30, 0x44, 1, 2][..])
        );
        assert_eq!(&bank[8..8 + file.len()], &file[..]);
    }

    #[test]
    fn an_image_too_big_for_the_bank_has_no_bank_image() {
        let file = ota_file(1, &vec![0u8; 5000]);
        assert!(bank_image(&file, flags::VALID, &[1], 4096).is_none());
    }

    #[test]
    fn versions_parse_and_print() {
        let v: Version = "0.9.12".parse().unwrap();
        assert_eq!(v.to_string(), "0.9.12");
        assert!("0.9".parse::<Version>().is_err());
        assert!("1.2.3.4".parse::<Version>().is_err());
    }
}

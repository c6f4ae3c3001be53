//! The simulated PIC32MZ program flash: two banks in one file, NOR semantics.
//!
//! Layout of the flash file: `[bank 0 | bank 1 | boot config (16 bytes)]`. Erase sets a
//! sector to 0xFF; program can only clear bits (new = old & data), as on NOR flash, which
//! is why the image flags step 0xFF → 0xFE → 0xFC → 0xF8 without an erase.
//!
//! Every sector touched is written with one `pwrite`, so a SIGKILL (the rig's power cut)
//! mid-operation leaves what a real cut leaves: sectors before the cut done, the rest
//! untouched (the test medium also cuts inside a write). No fsync: a killed process's
//! completed writes stay in the page cache for the next boot to read, and only a host
//! crash would lose them.
//!
//! The boot config holds the bank-swap bit (PIC32MZ `PFSWAP`) that the bootloader sets:
//! logical bank 0 ("lower", the one that runs) maps to physical bank 0 unless swapped.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Start of program flash in the PIC32MZ's kseg0 address space; bank 0 starts here.
pub const FLASH_BASE: u32 = 0x9D00_0000;
/// Bytes after the two banks that hold the boot configuration.
pub const BOOT_CONFIG_LEN: u64 = 16;
/// Default bank size (the PIC32MZ2048EF has 1 MiB per bank; half is plenty for the sim).
pub const DEFAULT_BANK_SIZE: u32 = 512 * 1024;
/// Erase/program granularity of the simulated flash (one `pwrite` each).
pub const SECTOR_SIZE: u32 = 4096;

const SWAP_OFFSET_IN_CONFIG: u64 = 0;
const NOT_SWAPPED: u8 = 0xFF;
const SWAPPED: u8 = 0x00;

#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("flash {path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("flash {path}: size {len} is not two equal banks of whole {SECTOR_SIZE}-byte sectors plus {BOOT_CONFIG_LEN} config bytes; re-create it with `otarig fixture build` / the native flasher")]
    BadSize { path: PathBuf, len: u64 },
    #[error("flash: bank {bank} range 0x{offset:x}+{len} is outside the {bank_size}-byte bank")]
    OutOfRange {
        bank: usize,
        offset: u32,
        len: usize,
        bank_size: u32,
    },
}

/// Where the flash bytes live: a file, or memory in tests (optionally failing mid-write).
pub trait Medium: Send {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
    /// Writes all of `data`, or fails having written a prefix of it (a power cut).
    fn write_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()>;
    fn size(&self) -> std::io::Result<u64>;
}

pub struct FileMedium(File);

impl Medium for FileMedium {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn write_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
        self.0.write_all_at(data, offset)
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

/// In-memory flash for tests. `budget` bytes may still be written; a write that exceeds
/// it stores only what fits and fails, like a power cut in the middle of a `pwrite`.
pub struct MemMedium {
    pub data: Vec<u8>,
    pub budget: Option<usize>,
}

impl Medium for MemMedium {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = offset as usize;
        let src = self
            .data
            .get(start..start + buf.len())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
        let n = match self.budget {
            Some(b) => b.min(data.len()),
            None => data.len(),
        };
        let start = offset as usize;
        self.data[start..start + n].copy_from_slice(&data[..n]);
        if let Some(b) = &mut self.budget {
            *b -= n;
        }
        if n < data.len() {
            return Err(std::io::Error::other("power cut (test budget exhausted)"));
        }
        Ok(())
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.data.len() as u64)
    }
}

/// The two-bank flash. Bank numbers in this API are logical: 0 = lower (runs), 1 = upper.
pub struct Flash {
    medium: Box<dyn Medium>,
    path: PathBuf,
    bank_size: u32,
    swapped: bool,
    /// Time one sector erase or program takes (from the image personality).
    pub sector_time: Duration,
}

impl Flash {
    /// Opens an existing flash file; its size gives the bank size.
    pub fn open(path: &Path) -> Result<Flash, FlashError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| FlashError::Io {
                path: path.to_path_buf(),
                what: "open (flash the board first)".into(),
                source,
            })?;
        Flash::with_medium(Box::new(FileMedium(file)), path)
    }

    /// Creates (or truncates) an erased flash file with banks of `bank_size` bytes.
    pub fn create(path: &Path, bank_size: u32) -> Result<Flash, FlashError> {
        std::fs::write(path, erased_image(bank_size)).map_err(|source| FlashError::Io {
            path: path.to_path_buf(),
            what: "create".into(),
            source,
        })?;
        Flash::open(path)
    }

    pub fn with_medium(medium: Box<dyn Medium>, path: &Path) -> Result<Flash, FlashError> {
        let path = path.to_path_buf();
        let len = medium.size().map_err(|source| FlashError::Io {
            path: path.clone(),
            what: "stat".into(),
            source,
        })?;
        let banks = len.checked_sub(BOOT_CONFIG_LEN).unwrap_or(1);
        if len < BOOT_CONFIG_LEN
            || banks % 2 != 0
            || (banks / 2) % SECTOR_SIZE as u64 != 0
            || banks == 0
        {
            return Err(FlashError::BadSize { path, len });
        }
        let bank_size = u32::try_from(banks / 2).map_err(|_| FlashError::BadSize {
            path: path.clone(),
            len,
        })?;
        let mut flash = Flash {
            medium,
            path,
            bank_size,
            swapped: false,
            sector_time: Duration::ZERO,
        };
        let mut b = [0u8; 1];
        flash.read_raw(flash.config_offset() + SWAP_OFFSET_IN_CONFIG, &mut b)?;
        flash.swapped = b[0] != NOT_SWAPPED;
        Ok(flash)
    }

    pub fn bank_size(&self) -> u32 {
        self.bank_size
    }

    /// Address of a logical bank in the CPU's address space.
    pub fn bank_address(&self, bank: usize) -> u32 {
        FLASH_BASE + bank as u32 * self.bank_size
    }

    pub fn is_swapped(&self) -> bool {
        self.swapped
    }

    /// Swaps the banks (the bootloader's `PFSWAP`): one byte, persisted at once.
    pub fn swap_banks(&mut self) -> Result<(), FlashError> {
        let value = if self.swapped { NOT_SWAPPED } else { SWAPPED };
        let off = self.config_offset() + SWAP_OFFSET_IN_CONFIG;
        self.write_raw(off, &[value], "write boot config")?;
        self.swapped = !self.swapped;
        Ok(())
    }

    pub fn read(&self, bank: usize, offset: u32, len: usize) -> Result<Vec<u8>, FlashError> {
        let base = self.physical(bank, offset, len)?;
        let mut buf = vec![0u8; len];
        self.read_raw(base, &mut buf)?;
        Ok(buf)
    }

    /// Programs `data` at `offset`: only 1→0 transitions take effect (NOR).
    pub fn program(&mut self, bank: usize, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let base = self.physical(bank, offset, data.len())?;
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset as usize + done;
            let in_sector = SECTOR_SIZE as usize - pos % SECTOR_SIZE as usize;
            let n = in_sector.min(data.len() - done);
            let mut cell = vec![0u8; n];
            self.read_raw(base + done as u64, &mut cell)?;
            for (c, d) in cell.iter_mut().zip(&data[done..done + n]) {
                *c &= *d;
            }
            self.write_raw(base + done as u64, &cell, "program")?;
            self.delay();
            done += n;
        }
        Ok(())
    }

    /// Erases the sectors covering `offset..offset+len` (whole sectors) to 0xFF.
    pub fn erase(&mut self, bank: usize, offset: u32, len: u32) -> Result<(), FlashError> {
        let first = offset / SECTOR_SIZE;
        let last = (offset + len).div_ceil(SECTOR_SIZE);
        let ones = vec![0xFFu8; SECTOR_SIZE as usize];
        for sector in first..last {
            let base = self.physical(bank, sector * SECTOR_SIZE, SECTOR_SIZE as usize)?;
            self.write_raw(base, &ones, "erase")?;
            self.delay();
        }
        Ok(())
    }

    pub fn erase_bank(&mut self, bank: usize) -> Result<(), FlashError> {
        self.erase(bank, 0, self.bank_size)
    }

    fn delay(&self) {
        if !self.sector_time.is_zero() {
            // The CPU stalls while the flash controller works, as on the chip.
            std::thread::sleep(self.sector_time);
        }
    }

    fn config_offset(&self) -> u64 {
        2 * self.bank_size as u64
    }

    fn physical(&self, bank: usize, offset: u32, len: usize) -> Result<u64, FlashError> {
        if bank > 1 || offset as u64 + len as u64 > self.bank_size as u64 {
            return Err(FlashError::OutOfRange {
                bank,
                offset,
                len,
                bank_size: self.bank_size,
            });
        }
        let physical_bank = if self.swapped { 1 - bank } else { bank };
        Ok(physical_bank as u64 * self.bank_size as u64 + offset as u64)
    }

    fn read_raw(&self, offset: u64, buf: &mut [u8]) -> Result<(), FlashError> {
        self.medium
            .read_at(buf, offset)
            .map_err(|source| FlashError::Io {
                path: self.path.clone(),
                what: format!("read {} bytes at 0x{offset:x}", buf.len()),
                source,
            })
    }

    fn write_raw(&mut self, offset: u64, data: &[u8], what: &str) -> Result<(), FlashError> {
        self.medium
            .write_at(data, offset)
            .map_err(|source| FlashError::Io {
                path: self.path.clone(),
                what: format!("{what} {} bytes at 0x{offset:x}", data.len()),
                source,
            })
    }
}

/// The bytes of a fully erased, unswapped flash file.
pub fn erased_image(bank_size: u32) -> Vec<u8> {
    vec![0xFF; 2 * bank_size as usize + BOOT_CONFIG_LEN as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANK: u32 = 4 * SECTOR_SIZE;

    fn mem(budget: Option<usize>) -> Flash {
        let medium = MemMedium {
            data: erased_image(BANK),
            budget,
        };
        Flash::with_medium(Box::new(medium), Path::new("mem")).unwrap()
    }

    #[test]
    fn program_only_clears_bits_and_erase_sets_them_again() {
        let mut f = mem(None);
        f.program(0, 10, &[0xF0, 0x0F]).unwrap();
        f.program(0, 10, &[0x3C, 0xFF]).unwrap();
        assert_eq!(f.read(0, 10, 2).unwrap(), vec![0x30, 0x0F]);
        f.erase(0, 0, 1).unwrap();
        assert_eq!(f.read(0, 10, 2).unwrap(), vec![0xFF, 0xFF]);
    }

    #[test]
    fn erase_covers_whole_sectors_and_nothing_else() {
        let mut f = mem(None);
        f.program(0, 0, &vec![0u8; BANK as usize]).unwrap();
        f.erase(0, SECTOR_SIZE + 5, 10).unwrap();
        assert!(f
            .read(0, SECTOR_SIZE, SECTOR_SIZE as usize)
            .unwrap()
            .iter()
            .all(|&b| b == 0xFF));
        assert!(f
            .read(0, 0, SECTOR_SIZE as usize)
            .unwrap()
            .iter()
            .all(|&b| b == 0));
        assert!(f.read(0, 2 * SECTOR_SIZE, 1).unwrap() == vec![0]);
    }

    #[test]
    fn swapping_maps_the_lower_bank_to_the_other_half_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        let mut f = Flash::create(&path, BANK).unwrap();
        f.program(1, 0, b"upper").unwrap();
        f.swap_banks().unwrap();
        assert_eq!(f.read(0, 0, 5).unwrap(), b"upper");
        drop(f);
        let f = Flash::open(&path).unwrap();
        assert!(f.is_swapped());
        assert_eq!(f.read(0, 0, 5).unwrap(), b"upper");
    }

    #[test]
    fn a_power_cut_mid_erase_leaves_earlier_sectors_erased_and_one_sector_partly_erased() {
        // Upper bank fully programmed; the cut comes 1.5 sectors into its erase.
        let mut data = erased_image(BANK);
        data[BANK as usize..2 * BANK as usize].fill(0);
        let cut = SECTOR_SIZE as usize + SECTOR_SIZE as usize / 2;
        let medium = MemMedium {
            data,
            budget: Some(cut),
        };
        let mut f = Flash::with_medium(Box::new(medium), Path::new("mem")).unwrap();
        assert!(f.erase_bank(1).is_err());
        let bank = f.read(1, 0, BANK as usize).unwrap();
        assert!(bank[..cut].iter().all(|&b| b == 0xFF));
        assert!(bank[cut..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_power_cut_mid_program_leaves_a_prefix_programmed() {
        let medium = MemMedium {
            data: erased_image(BANK),
            budget: Some(100),
        };
        let mut f = Flash::with_medium(Box::new(medium), Path::new("mem")).unwrap();
        assert!(f.program(0, 0, &[0u8; 300]).is_err());
        let got = f.read(0, 0, 300).unwrap();
        assert!(got[..100].iter().all(|&b| b == 0));
        assert!(got[100..].iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn out_of_bank_access_is_refused() {
        let mut f = mem(None);
        assert!(matches!(
            f.program(0, BANK - 1, &[0, 0]),
            Err(FlashError::OutOfRange { .. })
        ));
        assert!(f.read(2, 0, 1).is_err());
    }

    #[test]
    fn a_file_of_the_wrong_size_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        std::fs::write(&path, [0u8; 100]).unwrap();
        let err = Flash::open(&path).err().unwrap().to_string();
        assert!(err.contains("flash.bin"), "{err}");
    }
}

//! The receive side of one file transfer, shared by both agents: the block
//! bitmap, the block range check and the counters (docs/protocol.md §3.2, §3.3).

/// Outcome of checking one received block against the transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockCheck {
    /// In range and still missing: write it.
    New,
    Duplicate,
    /// Wrong index or wrong `l` for its index (`IngestResult` −7).
    OutOfRange,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    pub file_size: u32,
    pub block_size: u32,
    pub num_blocks: u32,
    pub blocks_remaining: u32,
    /// 1 = block still needed; bit j of byte k is block 8k+j.
    pub bitmap: Vec<u8>,
}

impl Download {
    pub fn new(file_size: u32, log2_block_size: u8) -> Self {
        let block_size = 1u32 << log2_block_size;
        let num_blocks = file_size.div_ceil(block_size);
        let bitmap_len = num_blocks.div_ceil(8) as usize;
        let mut bitmap = vec![0xffu8; bitmap_len];
        // Clear the out-of-range high bits of the last byte, bit 7 downward.
        let out_of_range = bitmap_len as u32 * 8 - num_blocks;
        if let Some(last) = bitmap.last_mut() {
            for k in 0..out_of_range {
                *last &= !(0x80u8 >> k);
            }
        }
        Download {
            file_size,
            block_size,
            num_blocks,
            blocks_remaining: num_blocks,
            bitmap,
        }
    }

    pub fn received(&self) -> u32 {
        self.num_blocks - self.blocks_remaining
    }

    /// The agents' `validateDataBlock` then bitmap test.
    pub fn check(&self, index: i64, size: i64) -> BlockCheck {
        let last = i64::from(self.num_blocks) - 1;
        let bs = i64::from(self.block_size);
        let ok = (index >= 0 && index < last && size == bs)
            || (index == last && size == i64::from(self.file_size) - last * bs);
        if !ok {
            return BlockCheck::OutOfRange;
        }
        let (byte, mask) = (index as usize >> 3, 1u8 << (index & 7));
        if self.bitmap[byte] & mask == 0 {
            BlockCheck::Duplicate
        } else {
            BlockCheck::New
        }
    }

    /// Marks a checked `New` block as received.
    pub fn mark(&mut self, index: u32) {
        self.bitmap[index as usize >> 3] &= !(1u8 << (index & 7));
        self.blocks_remaining -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_bytes_in_4k_blocks_is_bitmap_07() {
        let d = Download::new(10_000, 12);
        assert_eq!((d.num_blocks, d.bitmap.as_slice()), (3, &[0x07u8][..]));
    }

    #[test]
    fn bitmap_of_101_blocks_ends_in_1f_and_clears_received_bits_lsb_first() {
        let mut d = Download::new(101 * 4096 - 5, 12);
        assert_eq!(d.bitmap.len(), 13);
        assert_eq!(d.bitmap[12], 0x1f);
        d.mark(0);
        d.mark(9);
        assert_eq!(&d.bitmap[..2], &[0xfe, 0xfd]);
        assert_eq!(d.received(), 2);
    }

    #[test]
    fn block_check_enforces_sizes_and_duplicates() {
        let mut d = Download::new(10_000, 12);
        assert_eq!(d.check(0, 4096), BlockCheck::New);
        assert_eq!(d.check(0, 4095), BlockCheck::OutOfRange);
        assert_eq!(d.check(2, 1808), BlockCheck::New);
        assert_eq!(d.check(2, 4096), BlockCheck::OutOfRange);
        assert_eq!(d.check(3, 4096), BlockCheck::OutOfRange);
        assert_eq!(d.check(-1, 4096), BlockCheck::OutOfRange);
        d.mark(0);
        assert_eq!(d.check(0, 4096), BlockCheck::Duplicate);
    }
}

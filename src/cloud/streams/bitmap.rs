//! The GetStream block bitmap: byte k, bit j (least-significant first)
//! stands for block `o + 8k + j` (docs/protocol.md §3.2).

/// Blocks a request selects, ascending: those marked in `bitmap` from
/// `offset` (or, without a bitmap, `offset..offset + cap`), only blocks that
/// exist (`< block_count`), at most `cap` of them.
pub fn select_blocks(offset: u32, cap: u32, bitmap: Option<&[u8]>, block_count: u32) -> Vec<u32> {
    let cap = cap as usize;
    match bitmap {
        None => {
            let end = offset.saturating_add(cap as u32).min(block_count);
            (offset..end).collect()
        }
        Some(bytes) => bytes
            .iter()
            .enumerate()
            .flat_map(|(k, byte)| {
                (0..8u32)
                    .filter(move |j| byte & (1 << j) != 0)
                    .map(move |j| offset as u64 + 8 * k as u64 + j as u64)
            })
            .take_while(|&block| block < block_count as u64)
            .take(cap)
            .map(|block| block as u32)
            .collect(),
    }
}

/// The bitmap a device sends for `blocks` relative to `offset` (blocks
/// below `offset` are left out).
pub fn encode_bitmap(offset: u32, blocks: &[u32]) -> Vec<u8> {
    let bits: Vec<u32> = blocks
        .iter()
        .filter(|&&b| b >= offset)
        .map(|b| b - offset)
        .collect();
    let Some(&max) = bits.iter().max() else {
        return Vec::new();
    };
    let mut bytes = vec![0u8; max as usize / 8 + 1];
    for bit in bits {
        bytes[bit as usize / 8] |= 1 << (bit % 8);
    }
    bytes
}

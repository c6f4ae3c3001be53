//! Download progress per (thing, stream, file): which blocks were served at
//! least once, how many were sent in all, and when a progress event is due.

use std::collections::HashMap;

use super::Served;

/// Blocks between two progress reports (the last block is always reported).
pub const REPORT_EVERY: u64 = 8;

/// Progress of one thing's download of one stream file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Distinct blocks served at least once.
    pub blocks_served: u64,
    /// Block messages sent, re-sends included.
    pub blocks_sent: u64,
    /// Blocks in the file at the requested block size.
    pub block_count: u64,
}

struct Entry {
    block_size: u32,
    seen: Vec<bool>,
    progress: Progress,
    reported: Option<u64>,
}

type Key = (String, String, u32);

/// Counts served blocks; decides when a progress report is due.
#[derive(Default)]
pub struct ProgressTracker {
    entries: HashMap<Key, Entry>,
}

impl ProgressTracker {
    /// Records one answered GetStream. Returns the progress when a report is
    /// due: the first blocks, every [`REPORT_EVERY`] new blocks, and whenever
    /// the file's last block was served.
    pub fn record(&mut self, served: &Served) -> Option<Progress> {
        let key = (
            served.thing.clone(),
            served.stream_id.clone(),
            served.file_id,
        );
        let fresh = || Entry {
            block_size: served.block_size,
            seen: vec![false; served.block_count as usize],
            progress: Progress {
                blocks_served: 0,
                blocks_sent: 0,
                block_count: served.block_count,
            },
            reported: None,
        };
        let entry = self.entries.entry(key).or_insert_with(fresh);
        // A new block size renumbers the blocks: start counting again.
        if entry.block_size != served.block_size || entry.seen.len() as u64 != served.block_count {
            *entry = fresh();
        }
        for &block in &served.blocks {
            if let Some(seen) = entry.seen.get_mut(block as usize) {
                if !*seen {
                    *seen = true;
                    entry.progress.blocks_served += 1;
                }
            }
            entry.progress.blocks_sent += 1;
        }
        let last_served = served
            .blocks
            .iter()
            .any(|&b| b as u64 + 1 == served.block_count);
        let due = match entry.reported {
            None => true,
            Some(at) => last_served || entry.progress.blocks_served >= at + REPORT_EVERY,
        };
        if due {
            entry.reported = Some(entry.progress.blocks_served);
            Some(entry.progress)
        } else {
            None
        }
    }

    pub fn get(&self, thing: &str, stream_id: &str, file_id: u32) -> Option<Progress> {
        self.entries
            .get(&(thing.to_string(), stream_id.to_string(), file_id))
            .map(|e| e.progress)
    }

    /// Forgets every count of a stream (it was removed or replaced).
    pub fn forget_stream(&mut self, stream_id: &str) {
        self.entries.retain(|(_, s, _), _| s != stream_id);
    }
}

//! Exit codes (docs/architecture.md § Reports): the process's verdict on a run. Here
//! because the reports record the code a run ends with (summary.json, the table); the
//! CLI returns them (`cli::exit` is this module).

/// Every scenario passed.
pub const PASSED: u8 = 0;
/// Some scenario failed or bricked.
pub const FAILED: u8 = 1;
/// Bad configuration or usage.
pub const USAGE: u8 = 2;
/// Bench error (the rig failed, not the firmware).
pub const BENCH: u8 = 3;
/// Nothing was judged: every scenario was skipped (no board of the rig fits it), so
/// a release gate must not read the run as green.
pub const NOTHING_JUDGED: u8 = 4;

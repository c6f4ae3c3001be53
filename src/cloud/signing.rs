//! See cloud/mod.rs.

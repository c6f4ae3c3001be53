//! Native boards: a process on the bench host (see design.md § Native boards).

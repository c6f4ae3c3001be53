//! Links the `otarig` executable as a position-dependent (non-PIE) binary on Linux.
//!
//! Every simulated board is its own `otarig sim` process. As a PIE, each of them has the
//! dynamic loader read a 1.1 MB relocation table and dirty 0.8 MB of `.data.rel.ro` at
//! start: 2 MB more resident per board, a fifth of its budget, for address randomisation
//! of a bench tool's own code. (Libraries, heap and stack stay randomised.)
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

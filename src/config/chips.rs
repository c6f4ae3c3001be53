//! What probe-rs can program. It has no MIPS support, so PIC32MX/MZ need a
//! command flasher; a full registry look-up can be plugged in by the board layer.

/// A chip-name check run on every `probe-rs` flasher after the built-in one
/// (e.g. a look-up in probe-rs's target registry). `Err` is the diagnostic text.
pub type ChipCheck<'a> = &'a dyn Fn(&str) -> Result<(), String>;

/// The built-in check: rejects PIC32MX/PIC32MZ with the reason and the fix.
pub fn check_probe_rs_chip(chip: &str) -> Result<(), String> {
    let upper = chip.trim().to_ascii_uppercase();
    if upper.starts_with("PIC32MX") || upper.starts_with("PIC32MZ") {
        return Err(format!(
            "chip `{chip}` is a PIC32 (MIPS) part and probe-rs has no MIPS support (its PIC32 targets are the Cortex-M PIC32CX parts); \
             flash it with the command flasher instead: `flash: {{ command: {{ preset: ipecmd, part: {part}, tool: PKOB }} }}` \
             (MPLAB IPE) or `flash: {{ command: {{ preset: pic32prog }} }}`",
            part = upper.trim_start_matches("PIC")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pic32_mips_parts_are_rejected_with_the_fix() {
        let e = check_probe_rs_chip("PIC32MZ2048EFM100").unwrap_err();
        assert!(e.contains("no MIPS support"), "{e}");
        assert!(e.contains("preset: ipecmd, part: 32MZ2048EFM100"), "{e}");
        assert!(e.contains("pic32prog"), "{e}");
        assert!(check_probe_rs_chip("pic32mx795f512l").is_err());
    }

    #[test]
    fn arm_parts_and_pic32cx_pass() {
        assert!(check_probe_rs_chip("STM32U585AIIx").is_ok());
        assert!(check_probe_rs_chip("PIC32CX1025SG41128").is_ok());
    }
}

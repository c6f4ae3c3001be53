//! Error codes as each agent generation reports them (docs/protocol.md §4.7). The PAL
//! may answer in either generation's numbering; both are normalised here.

use crate::sim::pal::PalError;

/// (v1 agent code in bits 31..24, v3 `OtaPalMainStatus_t`, v3 name).
const PAL_CODES: [(u32, u32, &str); 15] = [
    (0x00, 0x00, "OtaPalSuccess"),
    (0x01, 0xe3, "OtaPalSignatureCheckFailed"),
    (0x02, 0xe7, "OtaPalBadSignerCert"),
    (0x03, 0xe1, "OtaPalOutOfMemory"),
    (0x04, 0xec, "OtaPalActivateFailed"),
    (0x05, 0xeb, "OtaPalCommitFailed"),
    (0x06, 0xea, "OtaPalRejectFailed"),
    (0x07, 0xe9, "OtaPalAbortFailed"),
    (0x09, 0xe8, "OtaPalBadImageState"),
    (0x10, 0xed, "OtaPalFileAbort"),
    (0x11, 0xee, "OtaPalFileClose"),
    (0x12, 0xe4, "OtaPalRxFileCreateFailed"),
    (0x13, 0xe6, "OtaPalBootInfoCreateFailed"),
    (0x14, 0xe5, "OtaPalRxFileTooLarge"),
    (0x20, 0xe2, "OtaPalNullFileContext"),
];

/// v3 `OtaPalUninitialized`, the close result before any close happened.
pub const V3_PAL_UNINITIALIZED: u32 = 0xe0;

/// The v1 `OTA_Err_t` (agent code | 24-bit PAL sub-code) for a PAL failure.
pub fn v1_err(e: PalError) -> u32 {
    let code = if e.code > 0xff {
        e.code & 0xff00_0000
    } else {
        PAL_CODES
            .iter()
            .find(|c| c.1 == e.code)
            .map_or(0x2700_0000, |c| c.0 << 24)
    };
    code | (e.sub & 0x00ff_ffff)
}

/// The v3 `OtaPalMainStatus_t` for a PAL failure.
pub fn v3_main(e: PalError) -> u32 {
    if e.code > 0xff {
        let agent = e.code >> 24;
        PAL_CODES
            .iter()
            .find(|c| c.0 == agent)
            .map_or(0xe0, |c| c.1)
    } else {
        e.code
    }
}

/// The v3 `OtaPalStatus_t` (main << 24 | sub).
pub fn v3_status(e: PalError) -> u32 {
    (v3_main(e) << 24) | (e.sub & 0x00ff_ffff)
}

pub fn v3_pal_name(main: u32) -> &'static str {
    if main == V3_PAL_UNINITIALIZED {
        return "OtaPalUninitialized";
    }
    PAL_CODES
        .iter()
        .find(|c| c.1 == main)
        .map_or("OtaPalUninitialized", |c| c.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_numbering_maps_to_both_generations() {
        let v1 = PalError {
            code: 0x0100_0000,
            sub: 0,
        };
        let v3 = PalError { code: 0xe7, sub: 0 };
        assert_eq!((v1_err(v1), v3_main(v1)), (0x0100_0000, 0xe3));
        assert_eq!((v1_err(v3), v3_main(v3)), (0x0200_0000, 0xe7));
        assert_eq!(
            v1_err(PalError {
                code: 0x0500_0000,
                sub: 0xffff_fffb
            }),
            0x05ff_fffb
        );
        assert_eq!(v3_pal_name(0xe3), "OtaPalSignatureCheckFailed");
    }
}

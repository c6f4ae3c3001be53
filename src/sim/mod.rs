//! The simulated PIC32MZ board: flash banks in a file, the reference bootloader,
//! the platform layer, the OTA agent (1.0.x or v3) speaking MQTT over TLS to the
//! gateway, and the firmware personality read from the booted image.

pub mod agent;
pub mod pal;

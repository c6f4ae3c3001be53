//! The hostile-device attacks that build against today's gateway API: the same
//! tests as `gateway_hostile`'s `attacks` module (tests/hostile_support/attacks.rs),
//! without the ones that need `GatewayConfig::limits`. See docs/hostile-devices.md.

mod gateway_support;
mod hostile_support;

#[path = "hostile_support/attacks.rs"]
mod attacks;

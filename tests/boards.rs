//! Boards: the simulated board (`otarig sim`: flash, bootloader, agents, power cuts, its
//! wiring as hardware), the hardware parts (command flashers, serial consoles, probes, power,
//! `doctor`), `otarig board`, the catalog on boards wired as hardware, boards from a labgrid
//! coordinator, and a foreign POSIX firmware. Modules under tests/boards/, helpers in tests/support/.

mod support;

#[path = "boards/board_cli.rs"]
mod board_cli;
#[path = "boards/foreign_firmware.rs"]
mod foreign_firmware;
#[path = "boards/hardware_bench_catalog.rs"]
mod hardware_bench_catalog;
#[path = "boards/hardware_command.rs"]
mod hardware_command;
#[path = "boards/hardware_doctor.rs"]
mod hardware_doctor;
#[path = "boards/hardware_probe.rs"]
mod hardware_probe;
#[path = "boards/hardware_serial.rs"]
mod hardware_serial;
#[path = "boards/labgrid.rs"]
mod labgrid;
#[path = "boards/native_console.rs"]
mod native_console;
#[path = "boards/sim_fixtures.rs"]
mod sim_fixtures;
#[path = "boards/sim_power_cut.rs"]
mod sim_power_cut;
#[path = "boards/sim_process.rs"]
mod sim_process;
#[path = "boards/sim_update.rs"]
mod sim_update;
#[path = "boards/sim_v3.rs"]
mod sim_v3;
#[path = "boards/sim_wiring.rs"]
mod sim_wiring;

//! Helpers shared by the integration tests. Each test binary uses a
//! different subset, hence the dead-code allowance.
#![allow(dead_code)]

pub mod cipher;
pub mod mosquitto;

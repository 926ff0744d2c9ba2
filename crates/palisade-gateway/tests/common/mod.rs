//! Helpers shared by the sink tests.
#![allow(dead_code)]

pub mod agent_device;
pub mod gateway_process;
pub mod receivers;

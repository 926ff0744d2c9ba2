//! Helpers shared by the sink tests.
#![allow(dead_code)]

pub mod agent_device;
pub mod device_sim;
pub mod gateway_child;
pub mod gateway_process;
pub mod receivers;

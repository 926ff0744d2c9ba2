//! Helpers shared by the sink tests.
#![allow(dead_code)]

pub mod receivers;

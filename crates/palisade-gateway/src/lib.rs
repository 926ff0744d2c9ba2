//! The core of the Palisade gateway: configuration, asset inventory, durable
//! outbox, detection engine, routing, sinks and response policy.
//!
//! The gateway sits between connected medical devices and the hospital
//! network. The admission side (TCP listener and handshake, built on
//! `palisade-transport` and `palisade-credential`) calls into this crate:
//!
//! - [`config::Config`] loads and validates the TOML configuration.
//!
//! # Example
//!
//! ```
//! use palisade_gateway::config::Config;
//!
//! let config = Config::from_toml_str("")?;
//! assert!(config.listener.address.ip().is_loopback());
//! # Ok::<(), palisade_gateway::config::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod db;
pub mod delivery;
pub mod detect;
pub mod finding;
pub mod hex_id;
pub mod inventory;
pub mod metrics;
pub mod outbox;
pub mod response;
pub mod sink;

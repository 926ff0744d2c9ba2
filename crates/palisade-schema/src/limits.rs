//! Maximum lengths of text, byte and list fields, in bytes or items.
//!
//! Encoders refuse longer values (see [`Str::new`](crate::bounded::Str::new))
//! and the decoder rejects them with [`DecodeError::TooLong`](crate::DecodeError::TooLong).
//! Raising a limit is a compatible change for decoders of the new version
//! only, so limits change with the [schema version](crate::SCHEMA_VERSION).

/// Short names: user names, vendors, models, versions, interface names,
/// terminals, collector names.
pub const NAME: usize = 64;
/// Software component names (package names).
pub const COMPONENT_NAME: usize = 128;
/// File system paths and executables.
pub const PATH: usize = 256;
/// Process command lines, arguments separated by single spaces.
pub const COMMAND_LINE: usize = 1024;
/// Free text: descriptions, remediations, reasons.
pub const TEXT: usize = 256;
/// Identifiers such as baseline check ids and remote session ids.
pub const IDENTIFIER: usize = 64;
/// Package URLs and CPE names.
pub const URI: usize = 256;
/// Opaque telemetry payloads.
pub const TELEMETRY: usize = 1024;
/// Network interfaces in one system information event.
pub const INTERFACES: usize = 4;
/// IP addresses per network interface.
pub const ADDRESSES_PER_INTERFACE: usize = 4;

//! Provisioning credentials, revocation lists, the session handshake,
//! signed commands and signed reference SBOMs for Palisade devices and
//! gateways.
//!
//! A device maker signs a credential for every device at the factory (root,
//! then a factory-line intermediate, then the device). A gateway admits a
//! device only when that chain verifies against a pinned root and the device
//! proves possession of its key in a three-message handshake, whose session keys
//! seal the wire crate's frames. Commands back to the device are signed by a
//! gateway credential from the operator's root. Every rejection carries a
//! [`RejectReason`] with a stable [`code`](RejectReason::code), so a gateway
//! can turn each one into its own security event. A device maker also
//! signs a [`ReferenceSbom`] per model and firmware version, against which
//! a gateway checks the components each device reports.
//!
//! The crate is `no_std` without heap allocation; the `std` feature adds the
//! operating-system RNG (`OsRng`).
//!
//! # Crypto backends
//!
//! All primitives sit behind [`crypto::Backend`]. The `ring` feature
//! (default) uses ring for Ed25519, SHA-256, HKDF and ChaCha20-Poly1305; the
//! `rustcrypto` feature uses ed25519-dalek 2 (`verify_strict`),
//! chacha20poly1305, hkdf and sha2 (compact software core) and builds for
//! `thumbv7em-none-eabihf`, where ring does not link. With both features,
//! ring is used. X25519 always comes from x25519-dalek, because ring only
//! accepts X25519 private keys that it generates itself. Whatever the
//! backend, Ed25519 public keys of small order or with a non-canonical
//! encoding and signatures with S >= L are rejected before verification
//! (ring 0.17.14 accepts a forged signature for the identity key). Private
//! keys are used through the [`Signer`] trait, so a key can live in a secure
//! element; [`SoftwareSigner`] reads PKCS#8 v1 and v2 documents and
//! zeroizes its seed on drop.
//!
//! # Encoding
//!
//! Bodies are postcard: `u8` as one byte, `u16`/`u32`/`u64` as LEB128
//! varints, fixed arrays as raw bytes, byte strings and lists as a varint
//! count then the items, enums as a varint variant index then the fields,
//! `Option` as a 0 or 1 byte then the value. Decoding is strict: a varint
//! must be minimal, a flag byte must be 0 or 1, lists must be sorted, and no
//! byte may follow the object. Each signed object is `body || signature`,
//! where the 64-byte Ed25519 signature covers `DOMAIN || body`:
//!
//! | object | domain-separation string ([`domain`]) |
//! |---|---|
//! | credential | `"palisade v1 credential\0"` |
//! | revocation list | `"palisade v1 revocation list\0"` |
//! | command | `"palisade v1 command\0"` |
//! | reference SBOM | `"palisade v1 reference sbom\0"` |
//! | handshake message 2 (gateway) | `"palisade v1 handshake gateway signature\0"`, then TH2 |
//! | handshake message 3 (device) | `"palisade v1 handshake device signature\0"`, then TH3 |
//!
//! **Credential** (at most [`MAX_CREDENTIAL_LEN`] bytes; 229 in the worst case):
//! version `u8` = 1, kind (varint: 0 root, 1 intermediate, 2 device,
//! 3 gateway), algorithm `u8` (1 = Ed25519), serial `u64`, issuer key id
//! `[u8; 8]`, device id `[u8; 16]`, vendor id `u32`, model id `u32`, hardware
//! revision `u16`, public key `[u8; 32]`, not-before `u64`, not-after `u64`,
//! key usage `u8` (bits: 0 send events, 1 receive commands, 2 sign commands,
//! 3 issue credentials, 4 sign revocation lists, 5 sign reference SBOMs),
//! issuer limits
//! `Option<(not-before u64, not-after u64, models: list of u32, at most 8)>`
//! (intermediates only), then the signature. A key id is the first 8 bytes of
//! SHA-256 of the public key. Times are seconds since the Unix epoch, both
//! ends inclusive; not-after = [`NO_EXPIRY`] (`u64::MAX`) never expires.
//!
//! **Revocation list** (at most [`MAX_REVOCATION_LIST_LEN`] bytes): version
//! `u8` = 1, root key id `[u8; 8]`, signer key id `[u8; 8]`, number `u64`,
//! this-update `u64`, next-update `u64`, revoked credentials (list of at most
//! [`MAX_REVOKED_CREDENTIALS`] pairs of issuer key id `[u8; 8]` and serial
//! `u64`), revoked issuers (list of at most [`MAX_REVOKED_ISSUERS`] key ids),
//! then the signature.
//!
//! **Command** (at most [`MAX_COMMAND_LEN`] bytes): version `u8` = 1, action
//! (varint: 0 isolate network, 1 release isolation, 2 graceful shutdown,
//! 3 rotate credential, 4 install revocation list + number `u64`, 5 request
//! inventory, 6 custom + code `u16` + argument `u64`), target device id
//! `[u8; 16]`, command id `u64`, counter `u64`, not-after `u64`, signer
//! credential (byte string), then the signature.
//!
//! **Reference SBOM** (at most [`MAX_REFERENCE_SBOM_LEN`] bytes): version
//! `u8` = 1, vendor id `u32`, model id `u32` (both as in the model's device
//! credentials), model name (string of at most [`MAX_MODEL_NAME_LEN`]
//! bytes), firmware version (string, 1 to [`MAX_FIRMWARE_VERSION_LEN`]
//! bytes), issued-at `u64`, components (list of at most
//! [`MAX_REFERENCE_COMPONENTS`], strictly increasing by name: name string of
//! 1 to [`MAX_COMPONENT_NAME_LEN`] bytes, version string of at most
//! [`MAX_COMPONENT_VERSION_LEN`] bytes, SHA-256 `[u8; 32]`), signer
//! credential (byte string), then the signature. Strings are a varint
//! length, then UTF-8. The signer is the maker's self-signed root credential
//! or a root or intermediate credential issued by a pinned root, and must
//! carry [`KeyUsage::SIGN_REFERENCE_SBOMS`].
//!
//! **Handshake**: message 1 = version, device nonce `[u8; 32]`, device
//! ephemeral X25519 key `[u8; 32]`, intermediate credential and device
//! credential (byte strings). Message 2 = version, gateway nonce, gateway
//! ephemeral key, gateway time `u64`, gateway credential (byte string), then
//! the gateway's signature over TH2. Message 3 = version, the gateway nonce
//! echoed, then the device's signature over TH3. The [`handshake`] module
//! gives the transcript and key schedule.
//!
//! # Trust, time and revocation
//!
//! - **Depth.** A device chain is exactly root, intermediate, device; a
//!   gateway (and a command signer) is issued directly by the operator's root.
//!   The algorithm comes from the pinned [`TrustAnchor`], never from the
//!   message: a credential naming another algorithm is rejected.
//! - **Rollover.** A [`TrustStore`] pins up to [`MAX_PINNED_ROOTS`] roots.
//!   To replace a root, pin the new one, issue new intermediates under it,
//!   and unpin the old one when no device depends on it; replacing an
//!   intermediate needs no change on gateways at all.
//! - **Intermediate cache.** [`ChainVerifier`] caches verified
//!   intermediates by the SHA-256 of their encoding, so an admission costs
//!   one signature check for the chain and one for the handshake.
//! - **Clock-less devices.** A device without a trusted clock keeps a
//!   [`LastKnownGoodTime`]: set at the factory, persisted, moved only forward,
//!   and only by the gateway's time, which message 2 carries under the
//!   gateway's signature. Verification with
//!   [`VerificationTime::LastKnownGood`] checks expiry (the real time is at
//!   least the last-known-good time) but not not-before.
//! - **Revocation.** A [`RevocationList`] is signed by the root or by a key
//!   the root certified with [`KeyUsage::SIGN_REVOCATION_LISTS`]. Its number
//!   must increase ([`RevocationStatus::install`] rejects a rolled-back
//!   list). A list past its next-update time is stale; the default
//!   [`StalePolicy`] rejects new admissions, keeps admitted devices and
//!   raises an alarm.
//!
//! # Limits and failures
//!
//! Every decoder is bounded by the constants above and returns a
//! [`RejectReason`] on bad input; no input makes it panic. Signing fails
//! only when the output buffer is too small, the [`Signer`] fails, or the
//! [`Rng`] fails. A signature that fails verification is retried under the
//! other domain strings (at most five more verifications, on that failure
//! path only) to report [`RejectReason::DomainMismatch`].
//!
//! Nothing allocates. Signing and verifying copy the domain string and the
//! body into a stack buffer, because Ed25519 signs one contiguous message:
//! about 300 bytes for a credential, 430 for a command and 2.6 KB for a
//! revocation list. A decoded [`RevocationList`] is itself about 2.2 KB, so
//! firmware that verifies lists needs about 5 KB of free stack for it.
//! Signing or verifying a reference SBOM copies up to about 58 KB, so it
//! belongs on a gateway or a host tool, not on a device stack.
//!
//! # Example
//!
//! ```
//! use palisade_credential::testkit::{Fixture, FixedRng, FIXTURE_NOW};
//! use palisade_credential::handshake::{
//!     DeviceHandshake, DeviceIdentity, GatewayHandshake, GatewayIdentity, ReplayCache,
//!     MAX_MSG1_LEN, MAX_MSG2_LEN, MSG3_LEN,
//! };
//! use palisade_credential::VerificationTime;
//! use palisade_wire::seal::{Opener, Sealer};
//!
//! let fixture = Fixture::new(); // fixed test keys and credentials
//! let now = VerificationTime::Trusted(FIXTURE_NOW);
//!
//! // Device: message 1.
//! let device = DeviceIdentity {
//!     intermediate: &fixture.intermediate,
//!     credential: &fixture.device,
//!     signer: &fixture.device_signer,
//! };
//! let mut msg1 = [0u8; MAX_MSG1_LEN];
//! let (device_state, len1) = DeviceHandshake::start(device, &mut FixedRng::new(&[7; 64]), &mut msg1)?;
//!
//! // Gateway: verify the chain, answer with message 2.
//! let mut replay = ReplayCache::<64>::new();
//! let parsed = GatewayHandshake::read_msg1(&msg1[..len1], &mut replay)?;
//! let mut verifier = fixture.verifier();
//! let admitted = verifier.verify_device_chain(&parsed.chain(), now, &[])?;
//! let gateway = GatewayIdentity { credential: &fixture.gateway, signer: &fixture.gateway_signer };
//! let mut msg2 = [0u8; MAX_MSG2_LEN];
//! let (gateway_state, len2) =
//!     GatewayHandshake::respond(&parsed, &admitted, gateway, FIXTURE_NOW, &mut FixedRng::new(&[9; 64]), &mut msg2)?;
//!
//! // Device: verify the gateway, answer with message 3.
//! let mut msg3 = [0u8; MSG3_LEN];
//! let (done, len3) = device_state.read_msg2(&msg2[..len2], &fixture.roots(), now, &[], &mut msg3)?;
//!
//! // Gateway: proof of possession, then both sides hold the same keys.
//! let gateway_session = gateway_state.read_msg3(&msg3[..len3])?;
//! let (mut device_sealer, _) = done.session.split();
//! let (_, mut gateway_opener) = gateway_session.split();
//! let mut payload = *b"heartbeat";
//! let tag = device_sealer.seal_in_place(0, b"header", &mut payload)?;
//! gateway_opener.open_in_place(0, b"header", &mut payload, &tag)?;
//! assert_eq!(&payload, b"heartbeat");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod chain;
mod command;
mod credential;
pub mod crypto;
pub mod domain;
mod encoding;
pub mod handshake;
mod ids;
mod key_index;
mod reason;
mod reference_sbom;
mod revocation;
mod rng;
mod session;
mod signer;

#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod testkit;

pub use chain::{
    ChainVerifier, DEVICE_CHAIN_DEPTH, INTERMEDIATE_CACHE_CAPACITY, IntermediateCache,
    LastKnownGoodTime, MAX_PINNED_ROOTS, TrustAnchor, TrustStore, VerificationTime, VerifiedDevice,
    VerifiedGateway, check_validity,
};
pub use command::{
    COMMAND_VERSION, Command, CommandAction, CommandVerifier, MAX_COMMAND_LEN, VerifiedCommand,
};
pub use credential::{
    CREDENTIAL_VERSION, Credential, CredentialBody, CredentialKind, IssuerLimits, KeyUsage,
    MAX_ALLOWED_MODELS, MAX_CREDENTIAL_LEN, NO_EXPIRY, SIGNATURE_LEN, SignatureAlgorithm, Subject,
    Validity,
};
pub use domain::{
    DOMAIN_COMMAND, DOMAIN_CREDENTIAL, DOMAIN_HANDSHAKE_DEVICE, DOMAIN_HANDSHAKE_GATEWAY,
    DOMAIN_REFERENCE_SBOM, DOMAIN_REVOCATION_LIST,
};
pub use handshake::{
    DeviceAwaitingMsg2, DeviceComplete, DeviceHandshake, DeviceIdentity, GatewayAwaitingMsg3,
    GatewayHandshake, GatewayIdentity, Msg1, ReplayCache,
};
pub use ids::{DeviceId, KeyId, PublicKey};
pub use key_index::DeviceKeyIndex;
pub use reason::{ObjectType, RejectReason};
pub use reference_sbom::{
    ComponentIter, MAX_COMPONENT_NAME_LEN, MAX_COMPONENT_VERSION_LEN, MAX_FIRMWARE_VERSION_LEN,
    MAX_ISSUED_AT_SKEW_SECS, MAX_MODEL_NAME_LEN, MAX_REFERENCE_COMPONENTS, MAX_REFERENCE_SBOM_LEN,
    REFERENCE_SBOM_VERSION, ReferenceComponent, ReferenceComponents, ReferenceSbom,
};
pub use revocation::{
    Freshness, MAX_REVOCATION_LIST_LEN, MAX_REVOKED_CREDENTIALS, MAX_REVOKED_ISSUERS,
    REVOCATION_LIST_VERSION, RevocationList, RevocationStatus, RevokedCredential, StalePolicy,
};
#[cfg(feature = "std")]
pub use rng::OsRng;
pub use rng::{Rng, RngError};
pub use session::{Session, SessionOpener, SessionSealer};
pub use signer::{PKCS8_V1_LEN, PKCS8_V2_LEN, Signer, SignerError, SoftwareSigner};

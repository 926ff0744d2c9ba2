//! The three-message session handshake, as sans-IO state machines.
//!
//! ```text
//! device                                               gateway
//!   msg1: nonce_d, X25519 e_d, intermediate, device credential  ->
//!                         verify chain (1 Ed25519 verify with a cached intermediate)
//!   <-  msg2: nonce_g, X25519 e_g, gateway time, gateway credential,
//!             Sig_g(DOMAIN_HANDSHAKE_GATEWAY || TH2)    (1 sign, 1 X25519)
//!   verify gateway credential against the operator root,
//!   verify Sig_g, advance last-known-good time
//!   msg3: nonce_g (echo), Sig_d(DOMAIN_HANDSHAKE_DEVICE || TH3)  ->
//!                                               verify Sig_d (1 verify)
//! ```
//!
//! `TH2 = SHA-256(TRANSCRIPT_PREFIX || msg1 || msg2 body)` and
//! `TH3 = SHA-256(TRANSCRIPT_PREFIX || msg1 || msg2 body || Sig_g || msg3 body)`.
//! Keys: `PRK = HKDF-Extract(salt = TH3, IKM = X25519(e_d, e_g))`, then
//! HKDF-Expand with the labels [`LABEL_DEVICE_TO_GATEWAY_KEY`] and the
//! others below: a 32-byte key and a 12-byte IV per direction, and a 16-byte
//! public session id.
//!
//! The gateway side costs two Ed25519 verifications (device credential and
//! Sig_d, the intermediate coming from the cache), one signature and one
//! X25519 agreement.

use crate::chain::{
    TrustStore, VerificationTime, VerifiedDevice, VerifiedGateway, check_validity,
    verify_operator_credential,
};
use crate::credential::{CredentialKind, MAX_CREDENTIAL_LEN, SIGNATURE_LEN};
use crate::crypto::{self, Active, Backend, Sha256};
use crate::domain;
use crate::encoding::{self, Reader};
use crate::ids::PublicKey;
use crate::reason::{ObjectType, RejectReason};
use crate::revocation::RevocationList;
use crate::rng::Rng;
use crate::session::{Session, SessionOpener, SessionSealer};
use crate::signer::Signer;
use zeroize::Zeroizing;

/// Format version of handshake messages.
pub const HANDSHAKE_VERSION: u8 = 1;
/// Prefix hashed before the transcript.
pub const TRANSCRIPT_PREFIX: &[u8] = b"palisade v1 handshake transcript\0";
/// HKDF label of the device-to-gateway key.
pub const LABEL_DEVICE_TO_GATEWAY_KEY: &[u8] = b"palisade v1 device to gateway key";
/// HKDF label of the device-to-gateway IV.
pub const LABEL_DEVICE_TO_GATEWAY_IV: &[u8] = b"palisade v1 device to gateway iv";
/// HKDF label of the gateway-to-device key.
pub const LABEL_GATEWAY_TO_DEVICE_KEY: &[u8] = b"palisade v1 gateway to device key";
/// HKDF label of the gateway-to-device IV.
pub const LABEL_GATEWAY_TO_DEVICE_IV: &[u8] = b"palisade v1 gateway to device iv";
/// HKDF label of the session id.
pub const LABEL_SESSION_ID: &[u8] = b"palisade v1 session id";

/// Upper bound of message 1.
pub const MAX_MSG1_LEN: usize = 1 + 32 + 32 + 2 * (2 + MAX_CREDENTIAL_LEN);
/// Upper bound of message 2.
pub const MAX_MSG2_LEN: usize = 1 + 32 + 32 + 10 + 2 + MAX_CREDENTIAL_LEN + SIGNATURE_LEN;
/// Length of message 3.
pub const MSG3_LEN: usize = 1 + 32 + SIGNATURE_LEN;

/// Transcript signature buffer: a domain string and a 32-byte hash.
const TRANSCRIPT_MESSAGE_LEN: usize = domain::MAX_DOMAIN_LEN + 32;

#[derive(serde::Serialize)]
struct Msg1Body<'a> {
    version: u8,
    device_nonce: [u8; 32],
    device_ephemeral: [u8; 32],
    intermediate: &'a [u8],
    device: &'a [u8],
}

#[derive(serde::Serialize)]
struct Msg2Body<'a> {
    version: u8,
    gateway_nonce: [u8; 32],
    gateway_ephemeral: [u8; 32],
    gateway_time: u64,
    gateway_credential: &'a [u8],
}

#[derive(serde::Serialize)]
struct Msg3Body {
    version: u8,
    gateway_nonce: [u8; 32],
}

/// A decoded message 1 (device to gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg1<'a> {
    /// The device's fresh nonce.
    pub device_nonce: [u8; 32],
    /// The device's ephemeral X25519 public key.
    pub device_ephemeral: [u8; 32],
    /// Encoded intermediate credential.
    pub intermediate: &'a [u8],
    /// Encoded device credential.
    pub device: &'a [u8],
    bytes: &'a [u8],
}

impl<'a> Msg1<'a> {
    /// Decodes message 1 strictly.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, RejectReason> {
        let mut reader = Reader::new(bytes, ObjectType::HandshakeMsg1);
        reader.version(HANDSHAKE_VERSION)?;
        let msg1 = Self {
            device_nonce: reader.array()?,
            device_ephemeral: reader.array()?,
            intermediate: reader.bytes("intermediate", MAX_CREDENTIAL_LEN)?,
            device: reader.bytes("device", MAX_CREDENTIAL_LEN)?,
            bytes,
        };
        reader.finish()?;
        Ok(msg1)
    }

    /// Returns the chain to hand to
    /// [`ChainVerifier::verify_device_chain`](crate::ChainVerifier::verify_device_chain).
    pub fn chain(&self) -> [&'a [u8]; 2] {
        [self.intermediate, self.device]
    }
}

/// A decoded message 2 (gateway to device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg2<'a> {
    /// The gateway's fresh nonce.
    pub gateway_nonce: [u8; 32],
    /// The gateway's ephemeral X25519 public key.
    pub gateway_ephemeral: [u8; 32],
    /// The gateway's time (seconds since the Unix epoch), covered by its signature.
    pub gateway_time: u64,
    /// Encoded gateway credential.
    pub gateway_credential: &'a [u8],
    /// Signature over the transcript hash TH2.
    pub signature: [u8; SIGNATURE_LEN],
    body: &'a [u8],
}

impl<'a> Msg2<'a> {
    /// Decodes message 2 strictly.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, RejectReason> {
        let mut reader = Reader::new(bytes, ObjectType::HandshakeMsg2);
        reader.version(HANDSHAKE_VERSION)?;
        let gateway_nonce = reader.array()?;
        let gateway_ephemeral = reader.array()?;
        let gateway_time = reader.u64()?;
        let gateway_credential = reader.bytes("gateway_credential", MAX_CREDENTIAL_LEN)?;
        let body = reader.consumed_since(0);
        let signature = reader.array()?;
        reader.finish()?;
        Ok(Self {
            gateway_nonce,
            gateway_ephemeral,
            gateway_time,
            gateway_credential,
            signature,
            body,
        })
    }
}

/// A decoded message 3 (device to gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg3<'a> {
    /// The gateway nonce, echoed.
    pub gateway_nonce: [u8; 32],
    /// Signature over the transcript hash TH3.
    pub signature: [u8; SIGNATURE_LEN],
    body: &'a [u8],
}

impl<'a> Msg3<'a> {
    /// Decodes message 3 strictly.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, RejectReason> {
        let mut reader = Reader::new(bytes, ObjectType::HandshakeMsg3);
        reader.version(HANDSHAKE_VERSION)?;
        let gateway_nonce = reader.array()?;
        let body = reader.consumed_since(0);
        let signature = reader.array()?;
        reader.finish()?;
        Ok(Self {
            gateway_nonce,
            signature,
            body,
        })
    }
}

/// Recently seen device nonces, so a replayed message 1 is rejected.
///
/// A direct-mapped table of `N` slots indexed by the nonce's first bytes:
/// a new nonce overwrites the slot's previous one, which is counted in
/// [`evictions`](Self::evictions). An evicted nonce is no longer detected
/// as a replay, but a replayed message 1 still cannot complete the handshake,
/// because message 3 must be signed over the gateway's fresh nonce and key.
#[derive(Clone)]
pub struct ReplayCache<const N: usize> {
    slots: [[u8; 16]; N],
    evictions: u64,
}

impl<const N: usize> Default for ReplayCache<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for ReplayCache<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("slots", &N)
            .field("evictions", &self.evictions)
            .finish()
    }
}

impl<const N: usize> ReplayCache<N> {
    /// Creates an empty cache.
    pub const fn new() -> Self {
        Self {
            slots: [[0u8; 16]; N],
            evictions: 0,
        }
    }

    /// Returns how many stored nonces were overwritten by newer ones.
    pub const fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Records `nonce`; fails when it was seen before (and not yet evicted).
    pub fn check_and_insert(&mut self, nonce: &[u8; 32]) -> Result<(), RejectReason> {
        if N == 0 {
            return Ok(());
        }
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&nonce[..16]);
        let index = (u64::from_le_bytes([
            tag[0], tag[1], tag[2], tag[3], tag[4], tag[5], tag[6], tag[7],
        ]) % N as u64) as usize;
        let slot = &mut self.slots[index];
        if *slot == tag {
            return Err(RejectReason::Replayed);
        }
        if *slot != [0u8; 16] {
            self.evictions += 1;
        }
        *slot = tag;
        Ok(())
    }
}

/// Derives the session keys from the shared secret and TH3.
fn derive_session(
    shared: &[u8; 32],
    th3: &[u8; 32],
    device_side: bool,
) -> Result<Session, RejectReason> {
    let prk = Zeroizing::new(Active::hkdf_extract(th3, shared));
    let expand = |label: &[u8], out: &mut [u8]| {
        Active::hkdf_expand(&prk, &[label], out).map_err(|_| RejectReason::KeyAgreementFailed)
    };
    let mut d2g_key = [0u8; 32];
    let mut d2g_iv = [0u8; 12];
    let mut g2d_key = [0u8; 32];
    let mut g2d_iv = [0u8; 12];
    let mut session_id = [0u8; 16];
    expand(LABEL_DEVICE_TO_GATEWAY_KEY, &mut d2g_key)?;
    expand(LABEL_DEVICE_TO_GATEWAY_IV, &mut d2g_iv)?;
    expand(LABEL_GATEWAY_TO_DEVICE_KEY, &mut g2d_key)?;
    expand(LABEL_GATEWAY_TO_DEVICE_IV, &mut g2d_iv)?;
    expand(LABEL_SESSION_ID, &mut session_id)?;
    let device_to_gateway_sealer = SessionSealer::new(d2g_key, d2g_iv);
    let gateway_to_device_sealer = SessionSealer::new(g2d_key, g2d_iv);
    let (sealer, opener) = if device_side {
        (
            device_to_gateway_sealer,
            SessionOpener::new(g2d_key, g2d_iv),
        )
    } else {
        (
            gateway_to_device_sealer,
            SessionOpener::new(d2g_key, d2g_iv),
        )
    };
    zeroize::Zeroize::zeroize(&mut d2g_key);
    zeroize::Zeroize::zeroize(&mut g2d_key);
    Ok(Session {
        sealer,
        opener,
        session_id,
    })
}

fn sign_transcript(
    signer: &(impl Signer + ?Sized),
    object: ObjectType,
    hash: &[u8; 32],
) -> Result<[u8; 64], RejectReason> {
    domain::sign_with_domain::<TRANSCRIPT_MESSAGE_LEN>(signer, object, hash)
}

fn random_32(rng: &mut impl Rng) -> Result<Zeroizing<[u8; 32]>, RejectReason> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(bytes.as_mut())
        .map_err(|_| RejectReason::RngFailed)?;
    Ok(bytes)
}

/// The gateway's own credential and key.
#[derive(Debug)]
pub struct GatewayIdentity<'a, S: ?Sized> {
    /// Encoded gateway credential (issued by the operator's root).
    pub credential: &'a [u8],
    /// Signer for the gateway key.
    pub signer: &'a S,
}

impl<S: ?Sized> Clone for GatewayIdentity<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ?Sized> Copy for GatewayIdentity<'_, S> {}

/// Entry point of the gateway side.
#[derive(Debug, Clone, Copy, Default)]
pub struct GatewayHandshake;

impl GatewayHandshake {
    /// Decodes message 1 and rejects a device nonce seen before.
    ///
    /// Next: verify [`Msg1::chain`] with
    /// [`ChainVerifier::verify_device_chain`](crate::ChainVerifier::verify_device_chain),
    /// then call [`respond`](Self::respond).
    pub fn read_msg1<'a, const N: usize>(
        bytes: &'a [u8],
        replay: &mut ReplayCache<N>,
    ) -> Result<Msg1<'a>, RejectReason> {
        let msg1 = Msg1::decode(bytes)?;
        replay.check_and_insert(&msg1.device_nonce)?;
        Ok(msg1)
    }

    /// Writes message 2 to `out` for a device whose chain verified; returns
    /// the state awaiting message 3 and the length written.
    ///
    /// `device` must be the result of verifying `msg1.chain()`.
    pub fn respond<S: Signer + ?Sized>(
        msg1: &Msg1<'_>,
        device: &VerifiedDevice,
        identity: GatewayIdentity<'_, S>,
        gateway_time: u64,
        rng: &mut impl Rng,
        out: &mut [u8],
    ) -> Result<(GatewayAwaitingMsg3, usize), RejectReason> {
        if crypto::sha256(&[msg1.device]) != device.credential_digest {
            return Err(RejectReason::ChainMismatch);
        }
        let mut gateway_nonce = [0u8; 32];
        rng.fill_bytes(&mut gateway_nonce)
            .map_err(|_| RejectReason::RngFailed)?;
        let ephemeral_secret = random_32(rng)?;
        let shared = Zeroizing::new(
            crypto::x25519_agree(&ephemeral_secret, &msg1.device_ephemeral)
                .map_err(|_| RejectReason::KeyAgreementFailed)?,
        );
        let body = Msg2Body {
            version: HANDSHAKE_VERSION,
            gateway_nonce,
            gateway_ephemeral: crypto::x25519_public(&ephemeral_secret),
            gateway_time,
            gateway_credential: identity.credential,
        };
        let body_len = encoding::encode_into(&body, out)?;
        let total = body_len + SIGNATURE_LEN;
        if out.len() < total {
            return Err(RejectReason::BufferTooSmall {
                needed: total,
                available: out.len(),
            });
        }
        let mut transcript = Active::sha256();
        transcript.update(TRANSCRIPT_PREFIX);
        transcript.update(msg1.bytes);
        transcript.update(&out[..body_len]);
        let th2 = transcript.clone().finish();
        let signature = sign_transcript(identity.signer, ObjectType::HandshakeMsg2, &th2)?;
        out[body_len..total].copy_from_slice(&signature);
        transcript.update(&signature);
        Ok((
            GatewayAwaitingMsg3 {
                transcript,
                shared,
                gateway_nonce,
                device_key: device.public_key(),
            },
            total,
        ))
    }
}

/// Gateway state after message 2 was sent.
pub struct GatewayAwaitingMsg3 {
    transcript: <Active as Backend>::Sha256,
    shared: Zeroizing<[u8; 32]>,
    gateway_nonce: [u8; 32],
    device_key: PublicKey,
}

impl core::fmt::Debug for GatewayAwaitingMsg3 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GatewayAwaitingMsg3")
            .field("device_key", &self.device_key)
            .finish_non_exhaustive()
    }
}

impl GatewayAwaitingMsg3 {
    /// Verifies message 3 (the device's proof of possession) and returns the session.
    pub fn read_msg3(self, bytes: &[u8]) -> Result<Session, RejectReason> {
        let msg3 = Msg3::decode(bytes)?;
        if msg3.gateway_nonce != self.gateway_nonce {
            return Err(RejectReason::NonceMismatch);
        }
        let mut transcript = self.transcript;
        transcript.update(msg3.body);
        let th3 = transcript.finish();
        domain::verify_with_domain::<TRANSCRIPT_MESSAGE_LEN>(
            &self.device_key,
            ObjectType::HandshakeMsg3,
            &th3,
            &msg3.signature,
        )?;
        derive_session(&self.shared, &th3, false)
    }
}

/// The device's own credentials and key.
#[derive(Debug)]
pub struct DeviceIdentity<'a, S: ?Sized> {
    /// Encoded intermediate credential that issued the device credential.
    pub intermediate: &'a [u8],
    /// Encoded device credential.
    pub credential: &'a [u8],
    /// Signer for the device key (software key, secure element).
    pub signer: &'a S,
}

impl<S: ?Sized> Clone for DeviceIdentity<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ?Sized> Copy for DeviceIdentity<'_, S> {}

/// Entry point of the device side.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceHandshake;

impl DeviceHandshake {
    /// Writes message 1 to `out`; returns the state awaiting message 2 and
    /// the length written. Draws 64 bytes from `rng`: the nonce, then the
    /// ephemeral X25519 secret.
    pub fn start<'a, S: Signer + ?Sized>(
        identity: DeviceIdentity<'a, S>,
        rng: &mut impl Rng,
        out: &mut [u8],
    ) -> Result<(DeviceAwaitingMsg2<'a, S>, usize), RejectReason> {
        let mut device_nonce = [0u8; 32];
        rng.fill_bytes(&mut device_nonce)
            .map_err(|_| RejectReason::RngFailed)?;
        let ephemeral_secret = random_32(rng)?;
        let body = Msg1Body {
            version: HANDSHAKE_VERSION,
            device_nonce,
            device_ephemeral: crypto::x25519_public(&ephemeral_secret),
            intermediate: identity.intermediate,
            device: identity.credential,
        };
        let len = encoding::encode_into(&body, out)?;
        let mut transcript = Active::sha256();
        transcript.update(TRANSCRIPT_PREFIX);
        transcript.update(&out[..len]);
        Ok((
            DeviceAwaitingMsg2 {
                identity,
                ephemeral_secret,
                transcript,
            },
            len,
        ))
    }
}

/// Device state after message 1 was sent.
pub struct DeviceAwaitingMsg2<'a, S: ?Sized> {
    identity: DeviceIdentity<'a, S>,
    ephemeral_secret: Zeroizing<[u8; 32]>,
    transcript: <Active as Backend>::Sha256,
}

impl<S: ?Sized> core::fmt::Debug for DeviceAwaitingMsg2<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceAwaitingMsg2").finish_non_exhaustive()
    }
}

/// Result of a completed handshake on the device side.
#[derive(Debug)]
pub struct DeviceComplete {
    /// Session keys.
    pub session: Session,
    /// The gateway's verified credential.
    pub gateway: VerifiedGateway,
    /// The gateway's signed time; pass it to
    /// [`LastKnownGoodTime::advance`](crate::LastKnownGoodTime::advance).
    pub gateway_time: u64,
}

impl<S: Signer + ?Sized> DeviceAwaitingMsg2<'_, S> {
    /// Verifies message 2 (gateway credential against `operator_roots`,
    /// revocation, transcript signature), writes message 3 to `out` and
    /// returns the session and the length written.
    ///
    /// With [`VerificationTime::LastKnownGood`], the gateway credential's
    /// validity is also checked at the gateway's signed time when that time
    /// is not older than the last-known-good time.
    pub fn read_msg2(
        self,
        bytes: &[u8],
        operator_roots: &TrustStore,
        time: VerificationTime,
        revocations: &[RevocationList],
        out: &mut [u8],
    ) -> Result<(DeviceComplete, usize), RejectReason> {
        let msg2 = Msg2::decode(bytes)?;
        let gateway = verify_operator_credential(
            operator_roots,
            msg2.gateway_credential,
            CredentialKind::Gateway,
            time,
            revocations,
        )?;
        let mut transcript = self.transcript;
        transcript.update(msg2.body);
        let th2 = transcript.clone().finish();
        domain::verify_with_domain::<TRANSCRIPT_MESSAGE_LEN>(
            &gateway.credential.public_key,
            ObjectType::HandshakeMsg2,
            &th2,
            &msg2.signature,
        )?;
        if let VerificationTime::LastKnownGood(last_known) = time
            && msg2.gateway_time >= last_known
        {
            check_validity(
                &gateway.credential,
                VerificationTime::Trusted(msg2.gateway_time),
            )?;
        }
        let shared = Zeroizing::new(
            crypto::x25519_agree(&self.ephemeral_secret, &msg2.gateway_ephemeral)
                .map_err(|_| RejectReason::KeyAgreementFailed)?,
        );
        transcript.update(&msg2.signature);
        let body = Msg3Body {
            version: HANDSHAKE_VERSION,
            gateway_nonce: msg2.gateway_nonce,
        };
        let body_len = encoding::encode_into(&body, out)?;
        let total = body_len + SIGNATURE_LEN;
        if out.len() < total {
            return Err(RejectReason::BufferTooSmall {
                needed: total,
                available: out.len(),
            });
        }
        transcript.update(&out[..body_len]);
        let th3 = transcript.finish();
        let signature = sign_transcript(self.identity.signer, ObjectType::HandshakeMsg3, &th3)?;
        out[body_len..total].copy_from_slice(&signature);
        let session = derive_session(&shared, &th3, true)?;
        Ok((
            DeviceComplete {
                session,
                gateway,
                gateway_time: msg2.gateway_time,
            },
            total,
        ))
    }
}

//! Chain verification: pinned roots, intermediates, devices and gateways.

use crate::credential::{
    Credential, CredentialBody, CredentialKind, KeyUsage, NO_EXPIRY, SignatureAlgorithm, Subject,
    Validity,
};
use crate::crypto;
use crate::ids::{DeviceId, KeyId, PublicKey};
use crate::reason::RejectReason;
use crate::revocation::RevocationList;

/// Maximum number of root keys pinned at once (rollover keeps old and new).
pub const MAX_PINNED_ROOTS: usize = 4;
/// Number of verified intermediates an [`IntermediateCache`] keeps.
pub const INTERMEDIATE_CACHE_CAPACITY: usize = 16;
/// Number of credentials in a device chain below the root: intermediate and device.
pub const DEVICE_CHAIN_DEPTH: u8 = 2;

/// The time against which validity periods are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationTime {
    /// A trusted clock (seconds since the Unix epoch): both ends of the
    /// validity period are checked.
    Trusted(u64),
    /// A last-known-good time on a device without a trusted clock. The real
    /// time is at least this value, so expiry is checked. Not-before is not
    /// checked, so that a credential issued after the device last received an
    /// authenticated time is not wrongly rejected.
    LastKnownGood(u64),
}

impl VerificationTime {
    /// Returns the time value in seconds since the Unix epoch.
    pub const fn seconds(self) -> u64 {
        match self {
            Self::Trusted(seconds) | Self::LastKnownGood(seconds) => seconds,
        }
    }
}

/// A last-known-good time for devices without a trusted clock.
///
/// It starts at a value set at the factory (for example the firmware build
/// time), only moves forward, and moves only by [`advance`](Self::advance)
/// with a time authenticated by a gateway (handshake message 2 carries the
/// gateway's signed time). The caller persists [`seconds`](Self::seconds)
/// across reboots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastKnownGoodTime {
    seconds: u64,
}

impl LastKnownGoodTime {
    /// Starts from a persisted or factory-set value.
    pub const fn new(seconds: u64) -> Self {
        Self { seconds }
    }

    /// Returns the current value.
    pub const fn seconds(&self) -> u64 {
        self.seconds
    }

    /// Returns the value as a verification time.
    pub const fn verification_time(&self) -> VerificationTime {
        VerificationTime::LastKnownGood(self.seconds)
    }

    /// Moves the time forward to `authenticated_seconds`; an older value is
    /// ignored. Returns true when the time moved.
    ///
    /// NOTE: there is no bound on a forward step, so a gateway holding a
    /// valid operator credential can move a device's time far ahead and
    /// make every credential look expired on that device.
    pub fn advance(&mut self, authenticated_seconds: u64) -> bool {
        if authenticated_seconds > self.seconds {
            self.seconds = authenticated_seconds;
            true
        } else {
            false
        }
    }
}

/// A pinned root key and its algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The root public key.
    pub public_key: PublicKey,
    /// Algorithm of signatures made by this root.
    pub algorithm: SignatureAlgorithm,
    key_id: KeyId,
}

impl TrustAnchor {
    /// Pins an Ed25519 root public key. Fails for keys of small order.
    pub fn ed25519(public_key: PublicKey) -> Result<Self, RejectReason> {
        let key_id = public_key.key_id();
        if crypto::check_public_key(&public_key.0).is_err() {
            return Err(RejectReason::WeakPublicKey { key_id });
        }
        Ok(Self {
            public_key,
            algorithm: SignatureAlgorithm::ED25519,
            key_id,
        })
    }

    /// Builds an anchor from a self-signed root credential, after checking
    /// its kind, self-signature and validity at `time`.
    pub fn from_root_credential(
        bytes: &[u8],
        time: VerificationTime,
    ) -> Result<Self, RejectReason> {
        let credential = Credential::decode(bytes)?;
        let body = &credential.body;
        expect_kind(body, CredentialKind::Root)?;
        let anchor = Self::ed25519(body.public_key)?;
        if body.issuer != anchor.key_id {
            return Err(RejectReason::UnknownIssuer {
                expected: body.issuer,
                found: anchor.key_id,
            });
        }
        check_algorithm(&anchor, body)?;
        credential.verify_signature(&body.public_key)?;
        check_validity(body, time)?;
        Ok(anchor)
    }

    /// Returns the key id of the root key.
    pub const fn key_id(&self) -> KeyId {
        self.key_id
    }
}

/// The set of pinned root keys. Several roots can be pinned at once, so a
/// root can be replaced by pinning the new one before unpinning the old.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: heapless::Vec<TrustAnchor, MAX_PINNED_ROOTS>,
}

impl TrustStore {
    /// Creates an empty store.
    pub const fn new() -> Self {
        Self {
            anchors: heapless::Vec::new(),
        }
    }

    /// Pins `anchor`; hands it back when [`MAX_PINNED_ROOTS`] are already pinned.
    /// Pinning a key that is already pinned changes nothing.
    pub fn pin(&mut self, anchor: TrustAnchor) -> Result<(), TrustAnchor> {
        if self.find(&anchor.key_id).is_some() {
            return Ok(());
        }
        self.anchors.push(anchor)
    }

    /// Unpins the root with `key_id`; returns true when it was pinned.
    pub fn unpin(&mut self, key_id: &KeyId) -> bool {
        match self
            .anchors
            .iter()
            .position(|anchor| anchor.key_id == *key_id)
        {
            Some(index) => {
                self.anchors.swap_remove(index);
                true
            }
            None => false,
        }
    }

    /// Returns the pinned anchor with `key_id`.
    pub fn find(&self, key_id: &KeyId) -> Option<&TrustAnchor> {
        self.anchors.iter().find(|anchor| anchor.key_id == *key_id)
    }

    /// Returns the pinned anchors.
    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }
}

/// A device whose chain verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDevice {
    /// The device credential body.
    pub credential: CredentialBody,
    /// Key id of the device key.
    pub key_id: KeyId,
    /// Key id of the intermediate that issued it.
    pub intermediate: KeyId,
    /// Serial of that intermediate.
    pub intermediate_serial: u64,
    /// Key id of the root the chain ends at.
    pub root: KeyId,
    /// SHA-256 of the encoded device credential, binding it to a handshake.
    pub credential_digest: [u8; 32],
}

impl VerifiedDevice {
    /// Returns the device id.
    pub fn device_id(&self) -> DeviceId {
        self.credential.subject.device_id
    }

    /// Returns the subject (device id, vendor, model, hardware revision).
    pub fn subject(&self) -> &Subject {
        &self.credential.subject
    }

    /// Returns the device public key.
    pub fn public_key(&self) -> PublicKey {
        self.credential.public_key
    }
}

/// A gateway (or other operator credential) whose chain to a pinned root verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGateway {
    /// The credential body.
    pub credential: CredentialBody,
    /// Key id of the subject key.
    pub key_id: KeyId,
    /// Key id of the root that issued it.
    pub root: KeyId,
}

#[derive(Debug, Clone)]
struct CachedIntermediate {
    digest: [u8; 32],
    body: CredentialBody,
    key_id: KeyId,
    last_used: u64,
}

/// Verified intermediates, keyed by SHA-256 of their encoding, so an
/// admission costs one signature check (the device credential) instead of two.
///
/// A hit still re-checks the validity period, the revocation list and that
/// the root is still pinned; only the signature check is skipped. When full,
/// the least recently used entry is replaced.
#[derive(Debug, Clone, Default)]
pub struct IntermediateCache {
    entries: heapless::Vec<CachedIntermediate, INTERMEDIATE_CACHE_CAPACITY>,
    clock: u64,
    hits: u64,
    misses: u64,
}

impl IntermediateCache {
    /// Creates an empty cache.
    pub const fn new() -> Self {
        Self {
            entries: heapless::Vec::new(),
            clock: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Returns (hits, misses) since creation.
    pub const fn statistics(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Drops every entry (for example after unpinning a root).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn lookup(&mut self, digest: &[u8; 32]) -> Option<(CredentialBody, KeyId)> {
        self.clock += 1;
        let clock = self.clock;
        match self
            .entries
            .iter_mut()
            .find(|entry| entry.digest == *digest)
        {
            Some(entry) => {
                self.hits += 1;
                entry.last_used = clock;
                Some((entry.body.clone(), entry.key_id))
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    fn insert(&mut self, digest: [u8; 32], body: CredentialBody, key_id: KeyId) {
        let entry = CachedIntermediate {
            digest,
            body,
            key_id,
            last_used: self.clock,
        };
        if let Err(entry) = self.entries.push(entry) {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, cached)| cached.last_used)
                .map(|(index, _)| index)
                .unwrap_or(0);
            self.entries[oldest] = entry;
        }
    }
}

/// Verifies device chains (root, intermediate, device) and gateway
/// credentials (root, gateway) against pinned roots, with an intermediate cache.
///
/// The cache needs `&mut self`; a multi-threaded gateway keeps one verifier
/// per worker or puts it behind a lock.
#[derive(Debug, Clone, Default)]
pub struct ChainVerifier {
    roots: TrustStore,
    cache: IntermediateCache,
}

fn expect_kind(body: &CredentialBody, expected: CredentialKind) -> Result<(), RejectReason> {
    if body.kind != expected {
        return Err(RejectReason::WrongKind {
            expected,
            found: body.kind,
        });
    }
    Ok(())
}

fn check_algorithm(anchor: &TrustAnchor, body: &CredentialBody) -> Result<(), RejectReason> {
    if body.algorithm != anchor.algorithm {
        return Err(RejectReason::AlgorithmMismatch {
            expected: anchor.algorithm.0,
            found: body.algorithm.0,
        });
    }
    Ok(())
}

fn require_usage(body: &CredentialBody, usage: KeyUsage) -> Result<(), RejectReason> {
    if !body.usage.contains(usage) {
        return Err(RejectReason::MissingKeyUsage {
            serial: body.serial,
            missing: usage,
        });
    }
    Ok(())
}

/// Checks the validity period of `body` at `time`.
pub fn check_validity(body: &CredentialBody, time: VerificationTime) -> Result<(), RejectReason> {
    let Validity {
        not_before,
        not_after,
    } = body.validity;
    let serial = body.serial;
    if not_before > not_after {
        return Err(RejectReason::InvalidValidity {
            serial,
            not_before,
            not_after,
        });
    }
    let now = time.seconds();
    if let VerificationTime::Trusted(_) = time
        && now < not_before
    {
        return Err(RejectReason::NotYetValid {
            serial,
            not_before,
            now,
        });
    }
    if not_after != NO_EXPIRY && now > not_after {
        return Err(RejectReason::Expired {
            serial,
            not_after,
            now,
        });
    }
    Ok(())
}

fn check_issuer_limits(
    intermediate: &CredentialBody,
    device: &CredentialBody,
) -> Result<(), RejectReason> {
    let Some(limits) = &intermediate.issuer_limits else {
        return Ok(());
    };
    let window = limits.window;
    let validity = device.validity;
    if validity.not_before < window.not_before || validity.not_after > window.not_after {
        return Err(RejectReason::OutsideIssuerWindow {
            serial: device.serial,
        });
    }
    let model = device.subject.model_id;
    if !limits.models.is_empty() && limits.models.binary_search(&model).is_err() {
        return Err(RejectReason::ModelNotAllowed {
            serial: device.serial,
            model,
        });
    }
    Ok(())
}

pub(crate) fn check_revocation(
    revocations: &[RevocationList],
    root: &KeyId,
    issuer: &KeyId,
    body: &CredentialBody,
) -> Result<(), RejectReason> {
    for list in revocations.iter().filter(|list| list.root == *root) {
        list.check(issuer, body.serial)?;
    }
    Ok(())
}

impl ChainVerifier {
    /// Creates a verifier for the roots in `roots`.
    pub fn new(roots: TrustStore) -> Self {
        Self {
            roots,
            cache: IntermediateCache::new(),
        }
    }

    /// Returns the pinned roots.
    pub fn roots(&self) -> &TrustStore {
        &self.roots
    }

    /// Returns the pinned roots for changes (rollover); clears the cache.
    pub fn roots_mut(&mut self) -> &mut TrustStore {
        self.cache.clear();
        &mut self.roots
    }

    /// Returns the intermediate cache (for statistics).
    pub fn cache(&self) -> &IntermediateCache {
        &self.cache
    }

    /// Verifies a device chain: `chain` is `[intermediate, device]`, exactly
    /// this depth, ending at a pinned root.
    ///
    /// `revocations` are lists already verified with
    /// [`RevocationList::decode_and_verify`]; a list applies to the chains of
    /// its own root. The staleness of those lists is checked separately with
    /// [`RevocationStatus`](crate::RevocationStatus).
    pub fn verify_device_chain(
        &mut self,
        chain: &[&[u8]],
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<VerifiedDevice, RejectReason> {
        let &[intermediate_bytes, device_bytes] = chain else {
            return Err(RejectReason::WrongDepth {
                expected: DEVICE_CHAIN_DEPTH,
                found: u8::try_from(chain.len()).unwrap_or(u8::MAX),
            });
        };
        let (intermediate, intermediate_key_id, anchor) =
            self.verify_intermediate(intermediate_bytes, time, revocations)?;

        let device = Credential::decode(device_bytes)?;
        let body = &device.body;
        expect_kind(body, CredentialKind::Device)?;
        if body.issuer != intermediate_key_id {
            if self.roots.find(&body.issuer).is_some() {
                return Err(RejectReason::WrongDepth {
                    expected: DEVICE_CHAIN_DEPTH,
                    found: 1,
                });
            }
            return Err(RejectReason::UnknownIssuer {
                expected: body.issuer,
                found: intermediate_key_id,
            });
        }
        check_algorithm(&anchor, body)?;
        if crypto::check_public_key(&body.public_key.0).is_err() {
            return Err(RejectReason::WeakPublicKey {
                key_id: body.key_id(),
            });
        }
        device.verify_signature(&intermediate.public_key)?;
        check_validity(body, time)?;
        check_issuer_limits(&intermediate, body)?;
        check_revocation(revocations, &anchor.key_id, &intermediate_key_id, body)?;

        Ok(VerifiedDevice {
            key_id: body.key_id(),
            intermediate: intermediate_key_id,
            intermediate_serial: intermediate.serial,
            root: anchor.key_id,
            credential_digest: crypto::sha256(&[device_bytes]),
            credential: device.body,
        })
    }

    fn verify_intermediate(
        &mut self,
        bytes: &[u8],
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<(CredentialBody, KeyId, TrustAnchor), RejectReason> {
        let digest = crypto::sha256(&[bytes]);
        let (body, key_id) = match self.cache.lookup(&digest) {
            Some(hit) => hit,
            None => {
                let credential = Credential::decode(bytes)?;
                let body = &credential.body;
                expect_kind(body, CredentialKind::Intermediate)?;
                let anchor = *self
                    .roots
                    .find(&body.issuer)
                    .ok_or(RejectReason::UnknownRoot {
                        key_id: body.issuer,
                    })?;
                check_algorithm(&anchor, body)?;
                if crypto::check_public_key(&body.public_key.0).is_err() {
                    return Err(RejectReason::WeakPublicKey {
                        key_id: body.key_id(),
                    });
                }
                credential.verify_signature(&anchor.public_key)?;
                let key_id = body.key_id();
                self.cache.insert(digest, credential.body.clone(), key_id);
                (credential.body, key_id)
            }
        };
        // Checked on every use, cached or not: the root may have been
        // unpinned, time moves, and revocation lists change.
        let anchor = *self
            .roots
            .find(&body.issuer)
            .ok_or(RejectReason::UnknownRoot {
                key_id: body.issuer,
            })?;
        require_usage(&body, KeyUsage::ISSUE_CREDENTIALS)?;
        check_validity(&body, time)?;
        for list in revocations.iter().filter(|list| list.root == anchor.key_id) {
            list.check_issuer(&key_id)?;
        }
        check_revocation(revocations, &anchor.key_id, &anchor.key_id, &body)?;
        Ok((body, key_id, anchor))
    }

    /// Verifies a gateway credential issued directly by a pinned (operator) root.
    pub fn verify_gateway(
        &self,
        bytes: &[u8],
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<VerifiedGateway, RejectReason> {
        verify_operator_credential(
            &self.roots,
            bytes,
            CredentialKind::Gateway,
            time,
            revocations,
        )
    }
}

/// Verifies a credential of `kind` issued directly by a root in `roots`.
pub(crate) fn verify_operator_credential(
    roots: &TrustStore,
    bytes: &[u8],
    kind: CredentialKind,
    time: VerificationTime,
    revocations: &[RevocationList],
) -> Result<VerifiedGateway, RejectReason> {
    let credential = Credential::decode(bytes)?;
    let body = &credential.body;
    expect_kind(body, kind)?;
    let anchor = *roots.find(&body.issuer).ok_or(RejectReason::UnknownRoot {
        key_id: body.issuer,
    })?;
    check_algorithm(&anchor, body)?;
    if crypto::check_public_key(&body.public_key.0).is_err() {
        return Err(RejectReason::WeakPublicKey {
            key_id: body.key_id(),
        });
    }
    credential.verify_signature(&anchor.public_key)?;
    check_validity(body, time)?;
    check_revocation(revocations, &anchor.key_id, &anchor.key_id, body)?;
    Ok(VerifiedGateway {
        key_id: body.key_id(),
        root: anchor.key_id,
        credential: credential.body,
    })
}

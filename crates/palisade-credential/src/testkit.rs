//! Deterministic keys and credentials for tests, fuzzing, benchmarks and
//! known-answer vectors. The private keys are fixed and public: never use
//! them outside tests.

use crate::chain::{ChainVerifier, TrustAnchor, TrustStore};
use crate::credential::{
    CREDENTIAL_VERSION, CredentialBody, CredentialKind, IssuerLimits, KeyUsage, MAX_CREDENTIAL_LEN,
    NO_EXPIRY, SignatureAlgorithm, Subject, Validity,
};
use crate::ids::DeviceId;
use crate::reason::RejectReason;
use crate::rng::{Rng, RngError};
use crate::signer::{Signer, SoftwareSigner};

/// Verification time the fixture's credentials are valid at (2027-01-15).
pub const FIXTURE_NOW: u64 = 1_800_000_000;
/// Vendor id of the fixture device.
pub const FIXTURE_VENDOR: u32 = 0x1234;
/// Model id of the fixture device, the only model its intermediate may issue.
pub const FIXTURE_MODEL: u32 = 42;

/// An encoded credential in a fixed buffer.
#[derive(Debug, Clone)]
pub struct Encoded {
    bytes: [u8; MAX_CREDENTIAL_LEN],
    len: usize,
}

impl Encoded {
    /// Returns the encoded bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl core::ops::Deref for Encoded {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Signs `body` with `issuer` into an [`Encoded`].
pub fn issue(
    body: &CredentialBody,
    issuer: &(impl Signer + ?Sized),
) -> Result<Encoded, RejectReason> {
    let mut bytes = [0u8; MAX_CREDENTIAL_LEN];
    let len = body.issue(issuer, &mut bytes)?;
    Ok(Encoded { bytes, len })
}

/// Builds a credential body with the fixture's defaults.
pub fn body(
    kind: CredentialKind,
    serial: u64,
    issuer: &(impl Signer + ?Sized),
    subject: &(impl Signer + ?Sized),
    validity: Validity,
    usage: KeyUsage,
) -> CredentialBody {
    CredentialBody {
        version: CREDENTIAL_VERSION,
        kind,
        algorithm: SignatureAlgorithm::ED25519,
        serial,
        issuer: issuer.key_id(),
        subject: Subject {
            device_id: DeviceId([0; 16]),
            vendor_id: FIXTURE_VENDOR,
            model_id: 0,
            hardware_revision: 0,
        },
        public_key: subject.public_key(),
        validity,
        usage,
        issuer_limits: None,
    }
}

/// A byte stream that returns the bytes it was given, then fails.
#[derive(Debug, Clone)]
pub struct FixedRng<'a> {
    bytes: &'a [u8],
}

impl<'a> FixedRng<'a> {
    /// Returns `bytes` in order.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
}

impl Rng for FixedRng<'_> {
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        if self.bytes.len() < dest.len() {
            return Err(RngError);
        }
        let (head, tail) = self.bytes.split_at(dest.len());
        dest.copy_from_slice(head);
        self.bytes = tail;
        Ok(())
    }
}

/// A maker root, an intermediate, a device, an operator root and a gateway,
/// all from fixed seeds.
#[derive(Debug)]
pub struct Fixture {
    /// Device maker's root key (seed 0x01...).
    pub root_signer: SoftwareSigner,
    /// Factory intermediate key (seed 0x02...).
    pub intermediate_signer: SoftwareSigner,
    /// Device key (seed 0x03...).
    pub device_signer: SoftwareSigner,
    /// Operator root key (seed 0x05...).
    pub operator_signer: SoftwareSigner,
    /// Gateway key (seed 0x04...).
    pub gateway_signer: SoftwareSigner,
    /// Self-signed maker root credential.
    pub root: Encoded,
    /// Intermediate credential (serial 10, window 1.7e9..2e9, model 42 only).
    pub intermediate: Encoded,
    /// Device credential (serial 1000).
    pub device: Encoded,
    /// Gateway credential issued by the operator root (serial 7).
    pub gateway: Encoded,
    /// Device id of the device credential.
    pub device_id: [u8; 16],
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// Builds the fixture. Panics only if the fixed inputs stop fitting the
    /// credential format, which the crate's tests would catch first.
    pub fn new() -> Self {
        let root_signer = SoftwareSigner::from_seed(&[1; 32]);
        let intermediate_signer = SoftwareSigner::from_seed(&[2; 32]);
        let device_signer = SoftwareSigner::from_seed(&[3; 32]);
        let gateway_signer = SoftwareSigner::from_seed(&[4; 32]);
        let operator_signer = SoftwareSigner::from_seed(&[5; 32]);
        let device_id = [
            0xd0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
            0x0e, 0x0f,
        ];

        let root_body = body(
            CredentialKind::Root,
            1,
            &root_signer,
            &root_signer,
            Validity {
                not_before: 1_700_000_000,
                not_after: NO_EXPIRY,
            },
            KeyUsage::ISSUE_CREDENTIALS.union(KeyUsage::SIGN_REVOCATION_LISTS),
        );
        let window = Validity {
            not_before: 1_700_000_000,
            not_after: 2_000_000_000,
        };
        let mut intermediate_body = body(
            CredentialKind::Intermediate,
            10,
            &root_signer,
            &intermediate_signer,
            window,
            KeyUsage::ISSUE_CREDENTIALS,
        );
        let mut models = heapless::Vec::new();
        models.push(FIXTURE_MODEL).expect("capacity 8");
        intermediate_body.issuer_limits = Some(IssuerLimits { window, models });
        let mut device_body = body(
            CredentialKind::Device,
            1000,
            &intermediate_signer,
            &device_signer,
            Validity {
                not_before: 1_750_000_000,
                not_after: 1_950_000_000,
            },
            KeyUsage::SEND_EVENTS.union(KeyUsage::RECEIVE_COMMANDS),
        );
        device_body.subject = Subject {
            device_id: DeviceId(device_id),
            vendor_id: FIXTURE_VENDOR,
            model_id: FIXTURE_MODEL,
            hardware_revision: 3,
        };
        let gateway_body = body(
            CredentialKind::Gateway,
            7,
            &operator_signer,
            &gateway_signer,
            Validity {
                not_before: 1_700_000_000,
                not_after: 1_900_000_000,
            },
            KeyUsage::SIGN_COMMANDS,
        );
        Self {
            root: issue(&root_body, &root_signer).expect("root fits"),
            intermediate: issue(&intermediate_body, &root_signer).expect("intermediate fits"),
            device: issue(&device_body, &intermediate_signer).expect("device fits"),
            gateway: issue(&gateway_body, &operator_signer).expect("gateway fits"),
            root_signer,
            intermediate_signer,
            device_signer,
            operator_signer,
            gateway_signer,
            device_id,
        }
    }

    /// Returns a trust store with the maker root and the operator root pinned.
    pub fn roots(&self) -> TrustStore {
        let mut roots = TrustStore::new();
        for signer in [&self.root_signer, &self.operator_signer] {
            let anchor =
                TrustAnchor::ed25519(signer.public_key()).expect("fixed keys are not weak");
            roots.pin(anchor).expect("two roots fit");
        }
        roots
    }

    /// Returns a chain verifier over [`roots`](Self::roots).
    pub fn verifier(&self) -> ChainVerifier {
        ChainVerifier::new(self.roots())
    }

    /// Returns the device chain `[intermediate, device]`.
    pub fn chain(&self) -> [&[u8]; 2] {
        [self.intermediate.as_slice(), self.device.as_slice()]
    }
}

/// Seed of the fixture's release key, which signs reference SBOMs.
pub const RELEASE_SEED: [u8; 32] = [6; 32];

impl Fixture {
    /// Returns a self-signed credential for the fixture's maker root key
    /// that also carries [`KeyUsage::SIGN_REFERENCE_SBOMS`] (serial 2).
    pub fn sbom_root(&self) -> Encoded {
        let mut root_body = body(
            CredentialKind::Root,
            2,
            &self.root_signer,
            &self.root_signer,
            Validity {
                not_before: 1_700_000_000,
                not_after: NO_EXPIRY,
            },
            KeyUsage::ISSUE_CREDENTIALS
                .union(KeyUsage::SIGN_REVOCATION_LISTS)
                .union(KeyUsage::SIGN_REFERENCE_SBOMS),
        );
        root_body.subject.model_id = 0;
        issue(&root_body, &self.root_signer).expect("root fits")
    }

    /// Returns the release key ([`RELEASE_SEED`]).
    pub fn release_signer(&self) -> SoftwareSigner {
        SoftwareSigner::from_seed(&RELEASE_SEED)
    }

    /// Returns a release intermediate issued by the maker root (serial 20,
    /// window 1.7e9..2e9) with only [`KeyUsage::SIGN_REFERENCE_SBOMS`],
    /// limited to the models in `models` (empty: any model).
    pub fn release_credential(&self, models: &[u32]) -> Encoded {
        self.release_credential_for_vendor(FIXTURE_VENDOR, models)
    }

    /// Returns the release intermediate of [`Fixture::release_credential`]
    /// with `vendor` as its subject's vendor id.
    pub fn release_credential_for_vendor(&self, vendor: u32, models: &[u32]) -> Encoded {
        let window = Validity {
            not_before: 1_700_000_000,
            not_after: 2_000_000_000,
        };
        let mut release_body = body(
            CredentialKind::Intermediate,
            20,
            &self.root_signer,
            &self.release_signer(),
            window,
            KeyUsage::SIGN_REFERENCE_SBOMS,
        );
        release_body.subject.vendor_id = vendor;
        let mut limits = heapless::Vec::new();
        for model in models {
            limits.push(*model).expect("at most 8 models");
        }
        release_body.issuer_limits = Some(IssuerLimits {
            window,
            models: limits,
        });
        issue(&release_body, &self.root_signer).expect("release credential fits")
    }
}

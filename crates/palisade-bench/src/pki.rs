//! A throwaway PKI for one run: a device maker's root and factory
//! intermediate, an operator root and gateway credential, and one device
//! credential per simulated device.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use palisade_credential::{
    CREDENTIAL_VERSION, CredentialBody, CredentialKind, IssuerLimits, KeyUsage, MAX_CREDENTIAL_LEN,
    NO_EXPIRY, OsRng, RejectReason, SignatureAlgorithm, Signer, SoftwareSigner, Subject,
    TrustAnchor, TrustStore, Validity,
};

/// Vendor id written into every credential of the run.
const VENDOR: u32 = 0x00BE_5C01;
/// Model id of the simulated devices.
pub const MODEL: u32 = 201;

/// An encoded credential with its private key.
pub struct Issued {
    /// Encoded credential.
    pub credential: Vec<u8>,
    /// Private key.
    pub signer: SoftwareSigner,
}

/// Credentials of one simulated device.
pub struct DeviceKeys {
    /// Device index (0-based).
    pub index: u32,
    /// Device id in the credential.
    pub id: [u8; 16],
    /// The factory intermediate's credential.
    pub intermediate: Vec<u8>,
    /// The device's credential and key.
    pub device: Issued,
}

/// The run's PKI.
pub struct Pki {
    /// Device maker root (pinned by the gateway).
    pub oem_root: Issued,
    /// Factory intermediate that issues the device credentials.
    pub factory: Issued,
    /// Operator root (pinned by the devices).
    pub operator_root: Issued,
    /// Gateway credential from the operator root.
    pub gateway: Issued,
    /// Validity of the intermediate; device credentials get the same, so
    /// that they stay inside the issuer's window.
    pub window: Validity,
}

/// Returns the device id of device `index`: `B0 01`, ten zero bytes, then
/// the index in big-endian order.
pub fn device_id(index: u32) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = 0xB0;
    id[1] = 0x01;
    id[12..].copy_from_slice(&index.to_be_bytes());
    id
}

/// Returns the index encoded in a [`device_id`], or `None` for another id.
pub fn device_index(id: &[u8; 16]) -> Option<u32> {
    if id[..12] != device_id(0)[..12] {
        return None;
    }
    Some(u32::from_be_bytes([id[12], id[13], id[14], id[15]]))
}

/// Parses a device id written as 32 hex digits and returns its index.
pub fn device_index_hex(text: &str) -> Option<u32> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text, &mut id).ok()?;
    device_index(&id)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn subject(device_id: [u8; 16], model_id: u32) -> Subject {
    Subject {
        device_id: palisade_credential::DeviceId(device_id),
        vendor_id: VENDOR,
        model_id,
        hardware_revision: 1,
    }
}

#[allow(clippy::too_many_arguments)]
fn issue(
    kind: CredentialKind,
    serial: u64,
    issuer: &SoftwareSigner,
    subject_signer: SoftwareSigner,
    subject: Subject,
    validity: Validity,
    usage: KeyUsage,
    limits: Option<IssuerLimits>,
) -> Result<Issued, RejectReason> {
    let body = CredentialBody {
        version: CREDENTIAL_VERSION,
        kind,
        algorithm: SignatureAlgorithm::ED25519,
        serial,
        issuer: issuer.key_id(),
        subject,
        public_key: subject_signer.public_key(),
        validity,
        usage,
        issuer_limits: limits,
    };
    let mut out = [0u8; MAX_CREDENTIAL_LEN];
    let len = body.issue(issuer, &mut out)?;
    Ok(Issued {
        credential: out[..len].to_vec(),
        signer: subject_signer,
    })
}

fn root(now: u64) -> Result<Issued, RejectReason> {
    let key = SoftwareSigner::generate(&mut OsRng)?;
    let issuer = SoftwareSigner::from_pkcs8(&key.to_pkcs8()[..])?;
    issue(
        CredentialKind::Root,
        1,
        &issuer,
        key,
        subject([0; 16], 0),
        Validity {
            not_before: now - 86_400,
            not_after: NO_EXPIRY,
        },
        KeyUsage::ISSUE_CREDENTIALS.union(KeyUsage::SIGN_REVOCATION_LISTS),
        None,
    )
}

impl Pki {
    /// Creates the roots, the intermediate and the gateway credential.
    pub fn new() -> Result<Self, RejectReason> {
        let now = now_secs();
        let oem_root = root(now)?;
        let operator_root = root(now)?;
        let window = Validity {
            not_before: now - 86_400,
            not_after: now + 365 * 86_400,
        };
        let mut models = heapless::Vec::new();
        let _ = models.push(MODEL);
        let factory = issue(
            CredentialKind::Intermediate,
            10,
            &oem_root.signer,
            SoftwareSigner::generate(&mut OsRng)?,
            subject([0; 16], 0),
            window,
            KeyUsage::ISSUE_CREDENTIALS,
            Some(IssuerLimits { window, models }),
        )?;
        let gateway = issue(
            CredentialKind::Gateway,
            7,
            &operator_root.signer,
            SoftwareSigner::generate(&mut OsRng)?,
            subject([0; 16], 0),
            window,
            KeyUsage::SIGN_COMMANDS,
            None,
        )?;
        Ok(Self {
            oem_root,
            factory,
            operator_root,
            gateway,
            window,
        })
    }

    /// Issues the credential of device `index`.
    pub fn device(&self, index: u32) -> Result<DeviceKeys, RejectReason> {
        let id = device_id(index);
        let device = issue(
            CredentialKind::Device,
            1_000 + u64::from(index),
            &self.factory.signer,
            SoftwareSigner::generate(&mut OsRng)?,
            subject(id, MODEL),
            self.window,
            KeyUsage::SEND_EVENTS.union(KeyUsage::RECEIVE_COMMANDS),
            None,
        )?;
        Ok(DeviceKeys {
            index,
            id,
            intermediate: self.factory.credential.clone(),
            device,
        })
    }

    /// Returns the trust store the devices verify the gateway with.
    pub fn operator_store(&self) -> Result<TrustStore, RejectReason> {
        let mut store = TrustStore::new();
        // A new store has room for one anchor.
        let _ = store.pin(TrustAnchor::ed25519(
            self.operator_root.signer.public_key(),
        )?);
        Ok(store)
    }

    /// Writes the gateway's files into `dir`: `oem-root.cred`,
    /// `gateway.cred` and `gateway.key.pk8`.
    pub fn write_gateway_files(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::write(dir.join("oem-root.cred"), &self.oem_root.credential)?;
        std::fs::write(dir.join("gateway.cred"), &self.gateway.credential)?;
        std::fs::write(
            dir.join("gateway.key.pk8"),
            &self.gateway.signer.to_pkcs8()[..],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_round_trip() {
        for index in [0, 1, 999, 10_000, u32::MAX] {
            assert_eq!(device_index(&device_id(index)), Some(index));
            let text = hex::encode(device_id(index));
            assert_eq!(device_index_hex(&text), Some(index));
        }
    }

    #[test]
    fn foreign_device_id_rejected() {
        let mut other = device_id(5);
        other[0] = 0xD0;
        assert_eq!(device_index(&other), None);
        assert_eq!(device_index_hex("not hex"), None);
    }
}

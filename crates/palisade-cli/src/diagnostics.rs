//! Wording of failures for a command-line user: which type of object a file
//! contains, which file of a chain a rejection refers to, and reject reasons
//! reworded for files instead of network messages.

use std::path::PathBuf;

use palisade_credential::{
    Command, Credential, CredentialKind, ReferenceSbom, RejectReason, RevocationList,
    SoftwareSigner, TrustStore,
};

/// The type of object a file contains, read from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A credential of this kind.
    Credential(CredentialKind),
    /// A signed revocation list.
    RevocationList,
    /// A signed command.
    Command,
    /// A signed reference SBOM.
    ReferenceSbom,
    /// A PKCS#8 Ed25519 private key.
    PrivateKey,
    /// None of the above.
    Unknown,
}

impl FileType {
    /// Detects the object type by decoding `bytes` as each known type in turn.
    pub fn detect(bytes: &[u8]) -> Self {
        if let Ok(credential) = Credential::decode(bytes) {
            return Self::Credential(credential.body.kind);
        }
        if RevocationList::decode_unverified(bytes).is_ok() {
            return Self::RevocationList;
        }
        if Command::decode_unverified(bytes).is_ok() {
            return Self::Command;
        }
        if ReferenceSbom::decode_unverified(bytes).is_ok() {
            return Self::ReferenceSbom;
        }
        if SoftwareSigner::from_pkcs8(bytes).is_ok() {
            return Self::PrivateKey;
        }
        Self::Unknown
    }

    /// Describes the type with its article, for example "a PKCS#8 private key".
    pub fn description(self) -> String {
        match self {
            Self::Credential(kind) => format!("{} {kind} credential", article(kind.name())),
            Self::RevocationList => "a revocation list".to_string(),
            Self::Command => "a signed command".to_string(),
            Self::ReferenceSbom => "a signed reference SBOM".to_string(),
            Self::PrivateKey => "a PKCS#8 private key".to_string(),
            Self::Unknown => "not a Palisade object".to_string(),
        }
    }
}

/// Returns "a" or "an" for `word`, by its first letter.
pub fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Words a reject reason for a user who passed files: the encoding reasons
/// name the file as truncated or of another type, the chain reasons count
/// the credentials below the root. Ends with the stable reason code.
pub fn reason_text(reason: &RejectReason) -> String {
    let text = match *reason {
        RejectReason::Truncated { object, offset } => format!(
            "{object} ends at byte {offset} before it is complete: the file is truncated or not a Palisade {object}"
        ),
        RejectReason::TrailingBytes { object, extra } => format!(
            "{object} is followed by {extra} extra bytes: the file is not a single Palisade {object}"
        ),
        RejectReason::WrongKind { expected, found } => format!(
            "expected {} {expected} credential, found {} {found} credential",
            article(expected.name()),
            article(found.name())
        ),
        RejectReason::WrongDepth { expected, found } => format!(
            "chain has {found} {} below the root, expected {expected} (an intermediate, then a device)",
            if found == 1 {
                "credential"
            } else {
                "credentials"
            }
        ),
        _ => reason.to_string(),
    };
    let mut text = format!("{text} (reason code {})", reason.code());
    if let Some(hint) = hint(reason) {
        text.push_str("; ");
        text.push_str(&hint);
    }
    text
}

/// Returns the next step for reasons whose library message does not name one.
fn hint(reason: &RejectReason) -> Option<String> {
    match reason {
        RejectReason::BadSignature { object } => Some(format!(
            "re-issue the {object} or check you passed the right file"
        )),
        RejectReason::WrongDepth { .. } => Some(
            "pass the intermediate and the device credential in that order, or one gateway credential"
                .to_string(),
        ),
        RejectReason::WrongKind { .. } => {
            Some("check the order and the type of the files you passed".to_string())
        }
        _ => None,
    }
}

/// One credential file of a chain, as read from disk.
pub struct ChainFile {
    /// Path as the user gave it.
    pub path: PathBuf,
    /// File contents.
    pub bytes: Vec<u8>,
}

/// Finds the chain file that `reason` refers to, or `None` when the reason
/// names no single file (a wrong chain length, or fields that match several
/// files).
///
/// The library rejects a chain without saying which position failed, so
/// this matches the serial, key id or issuer in the reason against each file
/// and, for a bad signature, checks each signature in chain order.
pub fn blame<'a>(
    reason: &RejectReason,
    files: &'a [ChainFile],
    roots: &TrustStore,
) -> Option<&'a ChainFile> {
    let decoded: Vec<Option<Credential<'_>>> = files
        .iter()
        .map(|file| Credential::decode(&file.bytes).ok())
        .collect();
    let unique = |matches: &dyn Fn(&Credential<'_>) -> bool| {
        let mut found = files
            .iter()
            .zip(&decoded)
            .filter(|(_, credential)| credential.as_ref().is_some_and(matches))
            .map(|(file, _)| file);
        let first = found.next();
        if found.next().is_some() { None } else { first }
    };
    match *reason {
        RejectReason::Truncated { .. }
        | RejectReason::TrailingBytes { .. }
        | RejectReason::NonCanonicalEncoding { .. }
        | RejectReason::Malformed { .. }
        | RejectReason::UnsupportedVersion { .. }
        | RejectReason::TooManyEntries { .. }
        | RejectReason::UnsortedEntries { .. } => decoded
            .iter()
            .position(Option::is_none)
            .map(|index| &files[index]),
        RejectReason::Expired {
            serial, not_after, ..
        } => unique(&|credential| {
            credential.body.serial == serial && credential.body.validity.not_after == not_after
        }),
        RejectReason::NotYetValid {
            serial, not_before, ..
        } => unique(&|credential| {
            credential.body.serial == serial && credential.body.validity.not_before == not_before
        }),
        RejectReason::InvalidValidity { serial, .. }
        | RejectReason::MissingKeyUsage { serial, .. } => {
            unique(&|credential| credential.body.serial == serial)
        }
        RejectReason::Revoked { issuer, serial } => unique(&|credential| {
            credential.body.serial == serial && credential.body.issuer == issuer
        }),
        RejectReason::OutsideIssuerWindow { serial }
        | RejectReason::ModelNotAllowed { serial, .. } => unique(&|credential| {
            credential.body.serial == serial && credential.body.kind == CredentialKind::Device
        }),
        RejectReason::UnknownRoot { key_id }
        | RejectReason::UnknownIssuer {
            expected: key_id, ..
        } => unique(&|credential| credential.body.issuer == key_id),
        RejectReason::WeakPublicKey { key_id } | RejectReason::IssuerRevoked { key_id } => {
            unique(&|credential| credential.key_id() == key_id)
        }
        RejectReason::WrongKind { expected, .. } => match (expected, files) {
            (CredentialKind::Intermediate | CredentialKind::Gateway, [first, ..]) => Some(first),
            (CredentialKind::Device, [_, second]) => Some(second),
            _ => None,
        },
        RejectReason::BadSignature { .. }
        | RejectReason::DomainMismatch { .. }
        | RejectReason::NonCanonicalSignature { .. } => first_bad_signature(files, &decoded, roots),
        _ => match files {
            [single] => Some(single),
            _ => None,
        },
    }
}

/// Returns the first file, in chain order, whose signature does not verify
/// under its issuer: a pinned root for the first file, the previous file's
/// key for the others.
fn first_bad_signature<'a>(
    files: &'a [ChainFile],
    decoded: &[Option<Credential<'_>>],
    roots: &TrustStore,
) -> Option<&'a ChainFile> {
    for (index, credential) in decoded.iter().enumerate() {
        let credential = credential.as_ref()?;
        let issuer_key = if index == 0 {
            roots.find(&credential.body.issuer)?.public_key
        } else {
            decoded[index - 1].as_ref()?.body.public_key
        };
        if credential.verify_signature(&issuer_key).is_err() {
            return Some(&files[index]);
        }
    }
    None
}

//! `Recipient` (AWS's attested calls) on `Decrypt`, `GenerateDataKey`,
//! `GenerateDataKeyPair`, `GenerateRandom` and `DeriveSharedSecret`: the attestation
//! document is verified as a key release verifies one (COSE_Sign1 with ES384, the signing
//! certificate's chain to one of the deployment's trusted roots, validity, age within
//! `release.max_age`), the operation runs with what it proved as the caller's evidence
//! (the key's wasm policy sees the guest and policy measurements, its AWS key policy
//! `kms:RecipientAttestation:ImageSha384` and `:PCR<n>`), and the secret of the answer is
//! returned only as `CiphertextForRecipient`, encrypted to the document's key:
//!
//! - an RSA key (2048–4096 bits): a CMS envelope as AWS builds it ([`envelope`]);
//! - a P-384 key: `enc ‖ ciphertext` of Kastell's HPKE suite (DHKEM(P-384, HKDF-SHA384),
//!   HKDF-SHA384, AES-256-GCM, base mode), `info` = [`HPKE_INFO_LABEL`] ‖ SHA-384 of the
//!   document, `aad` = the operation's AWS name (`Decrypt`, …).
//!
//! A document that does not verify is refused with `ValidationException` naming the failed
//! check (AWS documents no attestation-specific exception), audited, and nothing is
//! decrypted or generated.

mod envelope;

use std::sync::Arc;

use kastell_attest::document::{DocumentKey, verify_document_with};
use kastell_attest::verify::{Expectations, Trust};
use kastell_core::audit::{AuditEntry, Outcome};
use kastell_core::keys::Caller;
use kastell_proto::Operation;
use kastell_proto::aws::{AwsException, RecipientInfo};
use time::OffsetDateTime;

use super::shared::{encode, key_operation, sized_blob, validation};
use super::{AwsError, AwsState};

/// Longest attestation document AWS takes (`AttestationDocumentType`), in bytes.
const MAX_DOCUMENT: usize = 262_144;

/// The only `KeyEncryptionAlgorithm` AWS offers.
const RSAES_OAEP_SHA_256: &str = "RSAES_OAEP_SHA_256";

/// The start of the HPKE `info` of a `CiphertextForRecipient` to a P-384 key; the
/// document's SHA-384 follows.
pub const HPKE_INFO_LABEL: &[u8] = b"kastell aws recipient v1\0";

/// A `Recipient` as sent: read, not verified yet.
#[derive(Debug)]
pub(super) struct Requested {
    document: Vec<u8>,
}

/// Reads a request's `Recipient`: `KeyEncryptionAlgorithm` (`RSAES_OAEP_SHA_256`, the
/// default) and `AttestationDocument` (1 to 262,144 bytes), as AWS validates them.
pub(super) fn read(given: Option<&RecipientInfo>) -> Result<Option<Requested>, AwsError> {
    let Some(info) = given else {
        return Ok(None);
    };
    match info.key_encryption_algorithm.as_deref() {
        None | Some(RSAES_OAEP_SHA_256) => {}
        Some(other) => {
            return Err(validation(
                "Recipient.KeyEncryptionAlgorithm",
                &format!("'{other}'"),
                &format!("Member must satisfy enum value set: [{RSAES_OAEP_SHA_256}]"),
            ));
        }
    }
    let document = sized_blob(
        "Recipient.AttestationDocument",
        info.attestation_document.as_deref(),
        1,
        MAX_DOCUMENT,
    )?;
    Ok(Some(Requested { document }))
}

/// A verified recipient: the key its document attests, and the document's SHA-384.
#[derive(Debug)]
pub(super) struct Attested {
    key: DocumentKey,
    document_sha384: Vec<u8>,
}

impl Attested {
    /// `CiphertextForRecipient` (base64) of `secret`, the answer of `operation` (AWS's name).
    pub(super) fn seal(&self, operation: &str, secret: &[u8]) -> Result<String, AwsError> {
        let internal = |why: String| {
            tracing::error!(error = %why, "CiphertextForRecipient not made");
            AwsError::new(AwsException::KmsInternal, "internal error")
        };
        let sealed = match &self.key {
            DocumentKey::Rsa(key) => {
                envelope::seal(key.spki_der(), secret).map_err(|e| internal(e.to_string()))?
            }
            DocumentKey::P384(key) => {
                use p384::elliptic_curve::sec1::ToEncodedPoint as _;
                let mut info = HPKE_INFO_LABEL.to_vec();
                info.extend_from_slice(&self.document_sha384);
                let sealed = kastell_core::crypto::hpke::seal_with_info(
                    key.to_encoded_point(false).as_bytes(),
                    &info,
                    operation.as_bytes(),
                    secret,
                )
                .map_err(|e| internal(e.to_string()))?;
                let mut out = sealed.encapsulated_key;
                out.extend_from_slice(&sealed.ciphertext);
                out
            }
            other => return Err(internal(format!("no seal for a {} key", other.kind()))),
        };
        Ok(encode(&sealed))
    }
}

/// Verifies `requested` for `operation` (the audit's name of it) and returns the caller
/// carrying the evidence it proves, and the recipient; the caller unchanged without one.
/// A refusal is audited and answered with `ValidationException`.
pub(super) async fn attest(
    state: &AwsState,
    caller: Arc<Caller>,
    operation: Operation,
    requested: Option<Requested>,
) -> Result<(Arc<Caller>, Option<Attested>), AwsError> {
    let Some(requested) = requested else {
        return Ok((caller, None));
    };
    key_operation(state, move |app| match verify(app, &requested.document) {
        Ok((evidence, key)) => {
            let attested = Caller {
                evidence: Some(evidence),
                ..(*caller).clone()
            };
            let document_sha384 =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &requested.document)
                    .as_ref()
                    .to_vec();
            Ok((
                Arc::new(attested),
                Some(Attested {
                    key,
                    document_sha384,
                }),
            ))
        }
        Err(why) => {
            app.service.record_outcome(AuditEntry::event(
                &caller.id,
                operation.as_str(),
                None,
                Outcome::Denied,
                format!("Recipient refused: {why}"),
            ))?;
            app.metrics.denied("attestation");
            Err(AwsError::new(
                AwsException::Validation,
                format!("Recipient.AttestationDocument is not accepted: {why}"),
            ))
        }
    })
    .await
}

/// The document verified against the deployment's trusted roots at now (plus the allowed
/// clock skew), no older than `release.max_age`; what it proves and the key it attests.
fn verify(
    app: &crate::AppState,
    document: &[u8],
) -> Result<(kastell_core::sandbox::Evidence, DocumentKey), String> {
    let trust = &app.release;
    let verified = verify_document_with(
        document,
        &Trust {
            anchors: trust.anchors.clone(),
            intermediates: Vec::new(),
            crls: Vec::new(),
            at: OffsetDateTime::now_utc() + trust.max_clock_skew,
        },
        &Expectations {
            max_age: Some(trust.max_age),
            ..Expectations::default()
        },
        &*trust.checker,
    )
    .map_err(|e| e.to_string())?;
    let Some(key) = verified.document.public_key.clone() else {
        return Err("the attestation document carries no public_key to encrypt to".into());
    };
    Ok((crate::release::document_evidence(&verified), key))
}

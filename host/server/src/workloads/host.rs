//! The imports of a running workload, served by the key service: every key call runs as
//! the invoking principal with the workload's own measurement as verified evidence, so the
//! key's policy decides and the audit record names the guest; `attest` issues the
//! attestation certificate and the Nitro-format document from the host CA.

use kastell_proto::EncryptionContext;
use kastell_proto::ErrorCode;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kastell_attest::Measurement;
use kastell_attest::claims::{Claims, MAX_NONCE, MAX_USER_DATA};
use kastell_attest::document::{DocumentContent, DocumentKey, RsaKey};

use crate::Shared;
use kastell_attest::x509::Certificate;
use kastell_core::audit::{AuditEntry, Outcome};
use kastell_core::ca::{CaFiles, HostCa, TokenSigner};
use kastell_core::keys::{Caller, KeyError, SignInput};
use kastell_core::sandbox::{AttestationOut, KeyRef, WorkloadHost, WorkloadKeyError};

/// The host CA, ready to attest workloads.
#[derive(Debug)]
pub struct Attester {
    ca: HostCa,
    files: CaFiles,
    /// The document-signing key on the token.
    document_signer: TokenSigner,
    /// Its certificate, renewed (under the lock) when less than a day is left.
    document_certificate: Mutex<Certificate>,
    /// `host_id` of the claims and `module_id` of documents: the host CA's subject.
    host_id: String,
    /// This binary's SHA-384 (PCR1).
    runtime: Measurement,
    /// The chain returned with every attestation: host CA, root (DER).
    chain: Vec<Vec<u8>>,
}

impl Attester {
    /// Loads the installed host CA.
    ///
    /// # Errors
    /// The CA is not installed, the token lacks its key, or the binary cannot be read.
    pub fn load(
        token: Arc<dyn kastell_core::token::Token>,
        files: CaFiles,
    ) -> Result<Self, String> {
        let ca = HostCa::load(Arc::clone(&token), &files).map_err(|e| e.to_string())?;
        // The document-signing key and certificate are made here, once, rather than by
        // whichever concurrent first attestation gets there first.
        let (document_signer, certificate) = ca
            .document_signer(token, &files)
            .map_err(|e| format!("document signer: {e}"))?;
        let runtime = kastell_core::ca::runtime_measurement().map_err(|e| e.to_string())?;
        let der = |cert: &kastell_attest::x509::Certificate| {
            cert.to_der_bytes().map_err(|e| e.to_string())
        };
        let chain = vec![der(&ca.certificate)?, der(&ca.root)?];
        Ok(Self {
            host_id: ca.certificate.tbs_certificate.subject.to_string(),
            ca,
            files,
            document_signer,
            document_certificate: Mutex::new(certificate),
            runtime,
            chain,
        })
    }

    /// The host CA's subject, the `issuer` of the evidence a workload's key calls carry.
    #[must_use]
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// Attests `guest`: an attestation certificate (valid
    /// [`ATTESTATION_LIFETIME`](kastell_attest::ca::ATTESTATION_LIFETIME)) and a
    /// Nitro-format document binding `nonce`, `public_key` and `user_data`. `public_key` is
    /// a SEC1 P-384 point, or an RSA SubjectPublicKeyInfo (2048–4096 bits, DER) for AWS's
    /// `Recipient`: an RSA key gets the document only (the certificate is empty).
    ///
    /// # Errors
    /// A one-line reason: a malformed public key, an oversized field, the token.
    pub fn attest(
        &self,
        guest: Measurement,
        nonce: &[u8],
        public_key: &[u8],
        user_data: &[u8],
    ) -> Result<AttestationOut, String> {
        if nonce.len() > MAX_NONCE {
            return Err(format!(
                "nonce is {} bytes; at most {MAX_NONCE}",
                nonce.len()
            ));
        }
        if user_data.len() > MAX_USER_DATA {
            return Err(format!(
                "user-data is {} bytes; at most {MAX_USER_DATA}",
                user_data.len()
            ));
        }
        let key = match p384::PublicKey::from_sec1_bytes(public_key) {
            Ok(key) => DocumentKey::P384(key),
            // An RSA key (for AWS's `Recipient`) is attested by the document only: the
            // attestation certificate binds P-384 keys.
            Err(_) => RsaKey::from_spki_der(public_key)
                .map(DocumentKey::Rsa)
                .map_err(|why| {
                    format!(
                        "public-key is neither a SEC1-encoded P-384 point nor an RSA \
                         SubjectPublicKeyInfo of 2048 to 4096 bits ({why})"
                    )
                })?,
        };
        let claims = Claims {
            guest,
            policy: None,
            nonce: nonce.to_vec(),
            user_data: user_data.to_vec(),
            host_id: self.host_id.clone(),
            runtime_version: kastell_core::ca::runtime_version(),
        };
        let certificate = match &key {
            DocumentKey::P384(p384) => self
                .ca
                .issue(p384, &claims, kastell_attest::ca::ATTESTATION_LIFETIME)
                .and_then(|cert| {
                    cert.to_der_bytes()
                        .map_err(|e| kastell_core::ca::HostCaError::Setup(e.to_string()))
                })
                .map_err(|e| {
                    tracing::error!(error = %e, "attestation certificate not issued");
                    "the host could not issue the attestation certificate".to_owned()
                })?,
            _ => Vec::new(),
        };
        let content = DocumentContent {
            module_id: self.host_id.clone(),
            timestamp_ms: u64::try_from(kastell_core::keys::unix_now_ms()).unwrap_or(0),
            guest,
            runtime: self.runtime,
            policy: None,
            public_key: Some(key),
            user_data: Some(user_data.to_vec()),
            nonce: Some(nonce.to_vec()),
        };
        let document = self.document(&content).map_err(|e| {
            tracing::error!(error = %e, "attestation document not issued");
            "the host could not issue the attestation document".to_owned()
        })?;
        Ok(AttestationOut {
            certificate,
            document,
            chain: self.chain.clone(),
        })
    }
}

impl Attester {
    /// Signs a document with the cached document signer, renewing its certificate first
    /// when less than a day is left (one renewal, under the lock).
    fn document(
        &self,
        content: &DocumentContent,
    ) -> Result<Vec<u8>, kastell_core::ca::HostCaError> {
        let certificate = {
            let mut current = self
                .document_certificate
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !kastell_core::ca::document_signer_current(&current, time::OffsetDateTime::now_utc())
            {
                let token = self.ca.signer().token();
                *current = self.ca.document_signer(token, &self.files)?.1;
            }
            current.clone()
        };
        self.ca
            .sign_document(&self.document_signer, &certificate, content)
    }
}

/// One invocation's imports.
pub(super) struct ServiceHost {
    pub(super) state: Shared,
    /// The invoking principal, with the workload's measurement as evidence.
    pub(super) caller: Caller,
    pub(super) measurement: Measurement,
}

impl ServiceHost {
    /// The invoking principal acting through the workload measured `measurement`, whose
    /// evidence lasts as long as the invocation may.
    pub(super) fn new(
        state: Shared,
        mut caller: Caller,
        measurement: Measurement,
        wall_clock: Duration,
    ) -> Self {
        let issuer = state.attester.as_ref().map_or_else(
            || "kastell host (no attestation CA installed)".to_owned(),
            |a| a.host_id().to_owned(),
        );
        let until = kastell_core::keys::unix_now()
            .saturating_add(i64::try_from(wall_clock.as_secs()).unwrap_or(i64::MAX))
            .saturating_add(1);
        caller.evidence = Some(kastell_core::sandbox::Evidence {
            guest_sha384: measurement,
            policy_sha384: None,
            issuer,
            not_after: u64::try_from(until).unwrap_or(0),
            pcrs: BTreeMap::new(),
        });
        Self {
            state,
            caller,
            measurement,
        }
    }
}

/// The key service's error as the workload sees it (no internals).
fn key_error(err: KeyError) -> WorkloadKeyError {
    match err.code() {
        ErrorCode::NotFound => WorkloadKeyError::NotFound,
        ErrorCode::Disabled => WorkloadKeyError::Disabled,
        ErrorCode::AccessDenied => WorkloadKeyError::AccessDenied,
        ErrorCode::InvalidKeyUsage
        | ErrorCode::UnsupportedSpec
        | ErrorCode::UnsupportedAlgorithm => WorkloadKeyError::InvalidKeyUsage,
        ErrorCode::InvalidCiphertext | ErrorCode::IncorrectKey => {
            WorkloadKeyError::InvalidCiphertext
        }
        ErrorCode::InvalidState => WorkloadKeyError::InvalidState,
        ErrorCode::InvalidInput | ErrorCode::AlreadyExists => {
            WorkloadKeyError::InvalidInput(err.message())
        }
        _ => {
            tracing::error!(error = %err, "workload key call failed");
            WorkloadKeyError::Internal("the host failed; the cause is in its log".into())
        }
    }
}

fn context(pairs: Vec<(String, String)>) -> Result<EncryptionContext, WorkloadKeyError> {
    let mut map = BTreeMap::new();
    for (name, value) in pairs {
        if map.contains_key(&name) {
            return Err(WorkloadKeyError::InvalidInput(format!(
                "encryption context names `{name}` twice"
            )));
        }
        map.insert(name, value);
    }
    Ok(EncryptionContext(map))
}

impl WorkloadHost for ServiceHost {
    fn open(&mut self, key: &str) -> Result<KeyRef, WorkloadKeyError> {
        let (id, spec) = self.state.service.key_spec(key).map_err(key_error)?;
        Ok(KeyRef {
            id: id.to_string(),
            spec,
        })
    }

    fn encrypt(
        &mut self,
        key: &KeyRef,
        plaintext: &[u8],
        context_pairs: Vec<(String, String)>,
    ) -> Result<Vec<u8>, WorkloadKeyError> {
        let context = context(context_pairs)?;
        self.state
            .service
            .encrypt(&self.caller, &key.id, plaintext, &context)
            .map_err(key_error)
    }

    fn decrypt(
        &mut self,
        key: &KeyRef,
        ciphertext: &[u8],
        context_pairs: Vec<(String, String)>,
    ) -> Result<Vec<u8>, WorkloadKeyError> {
        let context = context(context_pairs)?;
        self.state
            .service
            .decrypt(&self.caller, Some(&key.id), ciphertext, &context)
            .map(|(_, plaintext)| plaintext.expose().to_vec())
            .map_err(key_error)
    }

    fn generate_data_key(
        &mut self,
        key: &KeyRef,
        context_pairs: Vec<(String, String)>,
    ) -> Result<(Vec<u8>, Vec<u8>), WorkloadKeyError> {
        let context = context(context_pairs)?;
        let data_key = self
            .state
            .service
            .generate_data_key(&self.caller, &key.id, &context, true)
            .map_err(key_error)?;
        let plaintext = data_key
            .plaintext
            .map(|p| p.expose().to_vec())
            .unwrap_or_default();
        Ok((plaintext, data_key.ciphertext))
    }

    fn sign(&mut self, key: &KeyRef, message: &[u8]) -> Result<Vec<u8>, WorkloadKeyError> {
        self.state
            .service
            .sign(&self.caller, &key.id, SignInput::Message(message))
            .map(|out| out.der)
            .map_err(key_error)
    }

    fn verify(
        &mut self,
        key: &KeyRef,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, WorkloadKeyError> {
        self.state
            .service
            .verify(
                &self.caller,
                &key.id,
                SignInput::Message(message),
                signature,
            )
            .map_err(key_error)
    }

    fn mac(&mut self, key: &KeyRef, message: &[u8]) -> Result<Vec<u8>, WorkloadKeyError> {
        self.state
            .service
            .generate_mac(&self.caller, &key.id, message)
            .map(|mac| mac.to_vec())
            .map_err(key_error)
    }

    fn verify_mac(
        &mut self,
        key: &KeyRef,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, WorkloadKeyError> {
        self.state
            .service
            .verify_mac(&self.caller, &key.id, message, mac)
            .map_err(key_error)
    }

    fn random(&mut self, len: usize) -> Result<Vec<u8>, WorkloadKeyError> {
        self.state
            .service
            .generate_random(&self.caller, len)
            .map_err(key_error)
    }

    fn attest(
        &mut self,
        nonce: &[u8],
        public_key: &[u8],
        user_data: &[u8],
    ) -> Result<AttestationOut, String> {
        let Some(attester) = &self.state.attester else {
            return Err(
                "this host has no attestation CA installed (`kastell init` or `kastell ca install`)"
                    .into(),
            );
        };
        let outcome = attester.attest(self.measurement, nonce, public_key, user_data);
        let (result, reason) = match &outcome {
            Ok(_) => (Outcome::Allowed, String::new()),
            Err(why) => (Outcome::Denied, why.clone()),
        };
        let entry = AuditEntry::event(&self.caller.id, "attest", None, result, reason)
            .with_guest(Some(self.measurement));
        if let Err(err) = self.state.service.record_entry(entry) {
            tracing::error!(error = %err, "attestation not audited; withheld");
            return Err("the host could not audit the attestation".into());
        }
        outcome
    }
}

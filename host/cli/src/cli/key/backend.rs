//! Where a key command runs: [`Keys`] is implemented once for the local deployment
//! ([`super::local`]) and once for a server ([`super::remote`]); `key.rs` writes each
//! command once over it (read the inputs, call, write the outputs).

use kastell_core::keys::{DataKey, DataKeyPair};
use kastell_proto::EncryptionContext;
use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm, SigningAlgorithm};
use kastell_proto::api::{Gated, KeyDescription};
use kastell_proto::secret::SecretBytes;
use serde::Serialize;

use crate::cli::CliError;

/// What a command asks to create.
#[derive(Debug)]
pub(in crate::cli) struct NewKeyArgs {
    pub spec: kastell_proto::KeySpec,
    pub usage: Option<kastell_proto::KeyUsage>,
    pub origin: kastell_proto::Origin,
    pub alias: Option<String>,
    pub description: String,
    pub tags: std::collections::BTreeMap<String, String>,
    pub policy: Option<String>,
    pub releasable: bool,
}

/// An answer: the value, and with `--json` against a server the server's answer as it
/// came (printed instead of the value's usual output).
#[derive(Debug)]
pub(in crate::cli) struct Answer<T> {
    pub value: T,
    pub json: Option<serde_json::Value>,
}

impl<T> Answer<T> {
    /// A value without a server answer (the local deployment).
    pub fn local(value: T) -> Self {
        Self { value, json: None }
    }

    /// `value`, with `answer` kept as JSON when `raw`.
    pub fn of(value: T, answer: &impl Serialize, raw: bool) -> Result<Self, CliError> {
        let json = raw
            .then(|| serde_json::to_value(answer))
            .transpose()
            .map_err(|e| CliError::internal(e.to_string()))?;
        Ok(Self { value, json })
    }
}

/// A signature's input: the message, or its digest.
#[derive(Debug, Clone, Copy)]
pub(in crate::cli) enum Signed<'a> {
    Message(&'a [u8]),
    Digest(&'a [u8]),
}

impl<'a> Signed<'a> {
    /// `input` is the digest when `digest`, else the message.
    pub fn of(digest: bool, input: &'a [u8]) -> Self {
        if digest {
            Self::Digest(input)
        } else {
            Self::Message(input)
        }
    }
}

/// The key operations, as a command sees them. Administration acts as crypto-officer,
/// use as crypto-user (locally: the operator in that role; on a server: the client
/// certificate's role).
pub(in crate::cli) trait Keys {
    /// Uses keys acting for `tenant` (a server takes the tenant from the certificate and
    /// refuses one given here).
    fn act_for(&mut self, tenant: Option<String>) -> Result<(), CliError>;

    fn create(&self, new: NewKeyArgs) -> Result<Answer<KeyDescription>, CliError>;
    fn describe(&self, key: &str) -> Result<Answer<KeyDescription>, CliError>;
    fn list(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Answer<Vec<KeyDescription>>, CliError>;
    fn rotate(&self, key: &str) -> Result<Answer<KeyDescription>, CliError>;
    fn set_enabled(&self, key: &str, enabled: bool) -> Result<Answer<KeyDescription>, CliError>;
    fn schedule_deletion(
        &self,
        key: &str,
        days: u32,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError>;
    fn cancel_deletion(&self, key: &str) -> Result<Answer<KeyDescription>, CliError>;
    /// Destroys the keys whose deletion window ended; their ids.
    fn destroy_due(&self) -> Result<Vec<String>, CliError>;
    fn set_alias(&self, alias: &str, key: &str) -> Result<Answer<Gated<()>>, CliError>;
    fn update_tags(
        &self,
        key: &str,
        tags: std::collections::BTreeMap<String, String>,
        description: Option<String>,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError>;
    fn bind_policy(
        &self,
        key: &str,
        policy: Option<String>,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError>;
    fn set_min_version(&self, key: &str, version: u32) -> Result<Answer<KeyDescription>, CliError>;

    fn encrypt(
        &self,
        key: &str,
        algorithm: Option<EncryptionAlgorithm>,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Answer<Vec<u8>>, CliError>;
    fn decrypt(
        &self,
        key: Option<&str>,
        algorithm: Option<EncryptionAlgorithm>,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Answer<SecretBytes>, CliError>;
    fn re_encrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
        to: &str,
    ) -> Result<Answer<Vec<u8>>, CliError>;
    /// A data key: its ciphertext, and its plaintext unless `without_plaintext`.
    fn generate_data_key(
        &self,
        key: &str,
        context: &EncryptionContext,
        without_plaintext: bool,
    ) -> Result<Answer<DataKey>, CliError>;
    /// A data key pair: its public key, encrypted private key and (unless
    /// `without_plaintext`) private key.
    fn generate_data_key_pair(
        &self,
        key: &str,
        spec: kastell_proto::KeySpec,
        context: &EncryptionContext,
        without_plaintext: bool,
    ) -> Result<Answer<DataKeyPair>, CliError>;
    /// A signature (DER for ECDSA).
    fn sign(
        &self,
        key: &str,
        input: Signed<'_>,
        algorithm: Option<SigningAlgorithm>,
    ) -> Result<Answer<Vec<u8>>, CliError>;
    fn verify(
        &self,
        key: &str,
        input: Signed<'_>,
        algorithm: Option<SigningAlgorithm>,
        signature: &[u8],
    ) -> Result<Answer<bool>, CliError>;
    /// The ECDH shared secret with a peer's public key (SPKI DER).
    fn derive_shared_secret(&self, key: &str, peer: &[u8])
    -> Result<Answer<SecretBytes>, CliError>;
    /// The public key: SPKI DER and PEM.
    fn public_key(&self, key: &str) -> Result<Answer<(Vec<u8>, String)>, CliError>;
    fn mac(
        &self,
        key: &str,
        algorithm: Option<MacAlgorithm>,
        message: &[u8],
    ) -> Result<Answer<Vec<u8>>, CliError>;
    fn verify_mac(
        &self,
        key: &str,
        algorithm: Option<MacAlgorithm>,
        message: &[u8],
        mac: &[u8],
    ) -> Result<Answer<bool>, CliError>;
    fn random(&self, len: usize) -> Result<Answer<SecretBytes>, CliError>;

    /// Covers what the command did with a signed audit checkpoint (locally; a server
    /// signs its own).
    fn checkpoint(&self) -> Result<(), CliError> {
        Ok(())
    }
}

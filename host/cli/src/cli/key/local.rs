//! `kastell key …` on the local deployment: the key service opened on the data directory,
//! the operator acting as crypto-officer for administration and as crypto-user (with the
//! `--tenant` given) for use. Every call is audited as `cli:<user>`.

use std::collections::BTreeMap;

use kastell_core::keys::{
    Caller, DataKey, DataKeyPair, KeyError, KeyRecord, KeyService, NewKey, SignInput, unix_now,
};
use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm, SigningAlgorithm};
use kastell_proto::api::{Gated, KeyDescription};
use kastell_proto::secret::SecretBytes;
use kastell_proto::{EncryptionContext, Role};

use super::backend::{Answer, Keys, NewKeyArgs, Signed};
use crate::cli::CliError;
use crate::cli::deployment::operator;

/// Maps a key error to the exit code of its [`kastell_proto::ErrorCode`].
fn key_error(err: KeyError) -> CliError {
    CliError::new(err.code(), err.to_string())
}

fn parse_measurement(text: &str) -> Result<kastell_attest::Measurement, CliError> {
    text.parse()
        .map_err(|e| CliError::usage(format!("--policy {text}: {e}")))
}

fn sign_input(input: Signed<'_>) -> SignInput<'_> {
    match input {
        Signed::Message(message) => SignInput::Message(message),
        Signed::Digest(digest) => SignInput::Digest(digest),
    }
}

/// The local deployment's key service.
pub(in crate::cli) struct Local {
    service: KeyService,
    tenant: Option<String>,
}

impl Local {
    pub fn new(service: KeyService) -> Self {
        Self {
            service,
            tenant: None,
        }
    }

    fn officer() -> Caller {
        operator(Role::CryptoOfficer, None)
    }

    fn user(&self) -> Caller {
        operator(Role::CryptoUser, self.tenant.clone())
    }

    /// Runs an administrative call and answers with the key's description.
    fn administer(
        &self,
        call: impl FnOnce(&KeyService, &Caller) -> Result<KeyRecord, KeyError>,
    ) -> Result<KeyDescription, CliError> {
        let key = call(&self.service, &Self::officer()).map_err(key_error)?;
        self.service.description_of(&key).map_err(key_error)
    }

    fn used<T>(result: Result<T, KeyError>) -> Result<Answer<T>, CliError> {
        result.map(Answer::local).map_err(key_error)
    }
}

impl Keys for Local {
    fn act_for(&mut self, tenant: Option<String>) -> Result<(), CliError> {
        self.tenant = tenant;
        Ok(())
    }

    fn create(&self, new: NewKeyArgs) -> Result<Answer<KeyDescription>, CliError> {
        let policy = new.policy.as_deref().map(parse_measurement).transpose()?;
        let key = NewKey {
            spec: new.spec,
            usage: new.usage,
            origin: new.origin,
            description: new.description,
            tags: new.tags,
            policy,
            releasable: new.releasable,
        };
        self.administer(|service, officer| service.create_key(officer, key, new.alias.as_deref()))
            .map(Answer::local)
    }

    fn describe(&self, key: &str) -> Result<Answer<KeyDescription>, CliError> {
        Self::used(self.service.describe_key(&Self::officer(), key))
    }

    fn list(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Answer<Vec<KeyDescription>>, CliError> {
        Self::used(
            self.service
                .list_keys(&Self::officer(), after.as_deref(), limit),
        )
    }

    fn rotate(&self, key: &str) -> Result<Answer<KeyDescription>, CliError> {
        self.administer(|service, officer| service.rotate(officer, key))
            .map(Answer::local)
    }

    fn set_enabled(&self, key: &str, enabled: bool) -> Result<Answer<KeyDescription>, CliError> {
        self.administer(|service, officer| service.set_enabled(officer, key, enabled))
            .map(Answer::local)
    }

    fn schedule_deletion(
        &self,
        key: &str,
        days: u32,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError> {
        self.administer(|service, officer| service.schedule_deletion(officer, key, days))
            .map(|key| Answer::local(Gated::Done(key)))
    }

    fn cancel_deletion(&self, key: &str) -> Result<Answer<KeyDescription>, CliError> {
        self.administer(|service, officer| service.cancel_deletion(officer, key))
            .map(Answer::local)
    }

    fn destroy_due(&self) -> Result<Vec<String>, CliError> {
        let ids = self.service.destroy_due(unix_now()).map_err(key_error)?;
        Ok(ids.iter().map(ToString::to_string).collect())
    }

    fn set_alias(&self, alias: &str, key: &str) -> Result<Answer<Gated<()>>, CliError> {
        Self::used(
            self.service
                .set_alias(&Self::officer(), alias, key)
                .map(Gated::Done),
        )
    }

    fn update_tags(
        &self,
        key: &str,
        tags: BTreeMap<String, String>,
        description: Option<String>,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError> {
        self.administer(|service, officer| service.update_tags(officer, key, tags, description))
            .map(|key| Answer::local(Gated::Done(key)))
    }

    fn bind_policy(
        &self,
        key: &str,
        policy: Option<String>,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError> {
        let policy = policy.as_deref().map(parse_measurement).transpose()?;
        self.administer(|service, officer| service.bind_policy(officer, key, policy))
            .map(|key| Answer::local(Gated::Done(key)))
    }

    fn set_min_version(&self, key: &str, version: u32) -> Result<Answer<KeyDescription>, CliError> {
        self.administer(|service, officer| {
            service.set_min_decryption_version(officer, key, version)
        })
        .map(Answer::local)
    }

    fn encrypt(
        &self,
        key: &str,
        algorithm: Option<EncryptionAlgorithm>,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Answer<Vec<u8>>, CliError> {
        Self::used(
            self.service
                .encrypt_with(&self.user(), key, algorithm, plaintext, context)
                .map(|encrypted| encrypted.ciphertext),
        )
    }

    fn decrypt(
        &self,
        key: Option<&str>,
        algorithm: Option<EncryptionAlgorithm>,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Answer<SecretBytes>, CliError> {
        Self::used(
            self.service
                .decrypt_with(&self.user(), key, algorithm, ciphertext, context)
                .map(|(_, plaintext)| plaintext),
        )
    }

    fn generate_data_key_pair(
        &self,
        key: &str,
        spec: kastell_proto::KeySpec,
        context: &EncryptionContext,
        without_plaintext: bool,
    ) -> Result<Answer<DataKeyPair>, CliError> {
        Self::used(self.service.generate_data_key_pair(
            &self.user(),
            key,
            spec,
            context,
            !without_plaintext,
        ))
    }

    fn derive_shared_secret(
        &self,
        key: &str,
        peer: &[u8],
    ) -> Result<Answer<SecretBytes>, CliError> {
        Self::used(
            self.service
                .derive_shared_secret(&self.user(), key, None, peer)
                .map(|(_, secret)| secret),
        )
    }

    fn re_encrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
        to: &str,
    ) -> Result<Answer<Vec<u8>>, CliError> {
        Self::used(
            self.service
                .re_encrypt(&self.user(), ciphertext, context, to),
        )
    }

    fn generate_data_key(
        &self,
        key: &str,
        context: &EncryptionContext,
        without_plaintext: bool,
    ) -> Result<Answer<DataKey>, CliError> {
        Self::used(
            self.service
                .generate_data_key(&self.user(), key, context, !without_plaintext),
        )
    }

    fn sign(
        &self,
        key: &str,
        input: Signed<'_>,
        algorithm: Option<SigningAlgorithm>,
    ) -> Result<Answer<Vec<u8>>, CliError> {
        Self::used(
            self.service
                .sign_with(&self.user(), key, sign_input(input), algorithm)
                .map(|signature| signature.der),
        )
    }

    fn verify(
        &self,
        key: &str,
        input: Signed<'_>,
        algorithm: Option<SigningAlgorithm>,
        signature: &[u8],
    ) -> Result<Answer<bool>, CliError> {
        Self::used(self.service.verify_with(
            &self.user(),
            key,
            sign_input(input),
            algorithm,
            signature,
        ))
    }

    fn public_key(&self, key: &str) -> Result<Answer<(Vec<u8>, String)>, CliError> {
        Self::used(
            self.service
                .public_key(&self.user(), key)
                .map(|public| (public.spki_der, public.spki_pem)),
        )
    }

    fn mac(
        &self,
        key: &str,
        algorithm: Option<MacAlgorithm>,
        message: &[u8],
    ) -> Result<Answer<Vec<u8>>, CliError> {
        Self::used(
            self.service
                .generate_mac_with(&self.user(), key, algorithm, message),
        )
    }

    fn verify_mac(
        &self,
        key: &str,
        algorithm: Option<MacAlgorithm>,
        message: &[u8],
        mac: &[u8],
    ) -> Result<Answer<bool>, CliError> {
        Self::used(
            self.service
                .verify_mac_with(&self.user(), key, algorithm, message, mac),
        )
    }

    fn random(&self, len: usize) -> Result<Answer<SecretBytes>, CliError> {
        Self::used(
            self.service
                .generate_random(&self.user(), len)
                .map(SecretBytes::new),
        )
    }

    fn checkpoint(&self) -> Result<(), CliError> {
        self.service.checkpoint().map_err(key_error)?;
        Ok(())
    }
}

//! `kastell key … --profile P`: the same commands, sent to a Kastell server over mutual
//! TLS. The server's client certificate decides the role and tenant; the output is the
//! same as the local command's (or the server's JSON with `--json`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell_core::keys::{DataKey, DataKeyPair};
use kastell_proto::EncryptionContext;
use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm, SigningAlgorithm};
use kastell_proto::api::{
    AliasRequest, BindPolicyRequest, CreateKeyRequest, DataKeyPairRequest, DataKeyRequest,
    DecryptRequest, DeriveSharedSecretRequest, EncryptRequest, Gated, KeyDescription, ListQuery,
    MacRequest, MinVersionRequest, RandomRequest, ReEncryptRequest, ScheduleDeletionRequest,
    SecretBase64, SignRequest, TagsRequest, VerifyMacRequest, VerifyRequest,
};
use kastell_proto::secret::SecretBytes;
use serde::Serialize;

use super::backend::{Answer, Keys, NewKeyArgs, Signed};
use crate::cli::CliError;
use crate::cli::remote::remote_error;
use crate::client::{Client, RemoteError};

/// The bytes of the base64 field `field` of the server's answer.
fn decoded(field: &str, text: &str) -> Result<Vec<u8>, CliError> {
    BASE64
        .decode(text)
        .map_err(|e| CliError::internal(format!("the server's `{field}` is not base64: {e}")))
}

fn base64_of(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// A server, reached with a client profile.
pub(in crate::cli) struct Remote {
    client: Client,
    /// `--json`: keep each answer as it came.
    raw: bool,
}

impl Remote {
    pub fn new(client: Client, raw: bool) -> Self {
        Self { client, raw }
    }

    /// The answer, or the remote failure as a command error; `value` reads what the
    /// command prints from it.
    fn answer<R: Serialize, T>(
        &self,
        answer: Result<R, RemoteError>,
        value: impl FnOnce(&R) -> Result<T, CliError>,
    ) -> Result<Answer<T>, CliError> {
        let answer = answer.map_err(remote_error)?;
        Answer::of(value(&answer)?, &answer, self.raw)
    }

    /// An answer that is itself what the command prints.
    fn same<R: Serialize + Clone>(
        &self,
        answer: Result<R, RemoteError>,
    ) -> Result<Answer<R>, CliError> {
        self.answer(answer, |answer| Ok(answer.clone()))
    }
}

impl Keys for Remote {
    fn act_for(&mut self, tenant: Option<String>) -> Result<(), CliError> {
        match tenant {
            Some(_) => Err(CliError::usage(
                "--tenant: with --profile the tenant comes from the client certificate",
            )),
            None => Ok(()),
        }
    }

    fn create(&self, new: NewKeyArgs) -> Result<Answer<KeyDescription>, CliError> {
        self.same(self.client.create_key(&CreateKeyRequest {
            spec: new.spec.as_str().to_owned(),
            usage: new.usage.map(|usage| usage.as_str().to_owned()),
            origin: Some(new.origin.as_str().to_owned()),
            alias: new.alias,
            description: new.description,
            tags: new.tags,
            policy: new.policy,
            releasable: new.releasable,
        }))
    }

    fn describe(&self, key: &str) -> Result<Answer<KeyDescription>, CliError> {
        self.same(self.client.describe_key(key))
    }

    fn list(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Answer<Vec<KeyDescription>>, CliError> {
        let page = self.client.list_keys(&ListQuery {
            after,
            limit: Some(limit),
        });
        self.answer(page, |page| Ok(page.keys.clone()))
    }

    fn rotate(&self, key: &str) -> Result<Answer<KeyDescription>, CliError> {
        self.same(self.client.rotate_key(key))
    }

    fn set_enabled(&self, key: &str, enabled: bool) -> Result<Answer<KeyDescription>, CliError> {
        self.same(self.client.set_enabled(key, enabled))
    }

    fn schedule_deletion(
        &self,
        key: &str,
        days: u32,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError> {
        self.same(
            self.client
                .schedule_deletion(key, &ScheduleDeletionRequest { days }),
        )
    }

    fn cancel_deletion(&self, key: &str) -> Result<Answer<KeyDescription>, CliError> {
        self.same(self.client.cancel_deletion(key))
    }

    fn destroy_due(&self) -> Result<Vec<String>, CliError> {
        Err(CliError::usage(
            "destroy-due runs locally (--data-dir); a server sweeps every hour by itself",
        ))
    }

    fn set_alias(&self, alias: &str, key: &str) -> Result<Answer<Gated<()>>, CliError> {
        let name = alias
            .strip_prefix("alias/")
            .ok_or_else(|| CliError::usage(format!("alias `{alias}` must start with `alias/`")))?;
        let answer = self.client.set_alias(
            name,
            &AliasRequest {
                key: key.to_owned(),
            },
        );
        self.answer(answer, |answer| {
            Ok(match answer {
                Gated::Done(_) => Gated::Done(()),
                Gated::Pending(pending) => Gated::Pending(pending.clone()),
            })
        })
    }

    fn update_tags(
        &self,
        key: &str,
        tags: BTreeMap<String, String>,
        description: Option<String>,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError> {
        self.same(
            self.client
                .update_tags(key, &TagsRequest { tags, description }),
        )
    }

    fn bind_policy(
        &self,
        key: &str,
        policy: Option<String>,
    ) -> Result<Answer<Gated<KeyDescription>>, CliError> {
        self.same(self.client.bind_policy(key, &BindPolicyRequest { policy }))
    }

    fn set_min_version(&self, key: &str, version: u32) -> Result<Answer<KeyDescription>, CliError> {
        self.same(
            self.client
                .set_min_decryption_version(key, &MinVersionRequest { version }),
        )
    }

    fn encrypt(
        &self,
        key: &str,
        algorithm: Option<EncryptionAlgorithm>,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Answer<Vec<u8>>, CliError> {
        let request = EncryptRequest {
            plaintext: SecretBase64::new(base64_of(plaintext)),
            context: Some(context.clone()),
            algorithm,
        };
        self.answer(self.client.encrypt(key, &request), |answer| {
            decoded("ciphertext", &answer.ciphertext)
        })
    }

    fn decrypt(
        &self,
        key: Option<&str>,
        algorithm: Option<EncryptionAlgorithm>,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Answer<SecretBytes>, CliError> {
        let request = DecryptRequest {
            ciphertext: base64_of(ciphertext),
            context: Some(context.clone()),
            key: key.map(str::to_owned),
            algorithm,
        };
        self.answer(self.client.decrypt(&request), |answer| {
            decoded("plaintext", answer.plaintext.expose()).map(SecretBytes::new)
        })
    }

    fn re_encrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
        to: &str,
    ) -> Result<Answer<Vec<u8>>, CliError> {
        let request = ReEncryptRequest {
            ciphertext: base64_of(ciphertext),
            context: Some(context.clone()),
            destination: to.to_owned(),
        };
        self.answer(self.client.re_encrypt(&request), |answer| {
            decoded("ciphertext", &answer.ciphertext)
        })
    }

    fn generate_data_key(
        &self,
        key: &str,
        context: &EncryptionContext,
        without_plaintext: bool,
    ) -> Result<Answer<DataKey>, CliError> {
        let request = DataKeyRequest {
            context: Some(context.clone()),
            without_plaintext,
        };
        self.answer(self.client.generate_data_key(key, &request), |answer| {
            let plaintext = answer
                .plaintext
                .as_ref()
                .map(|p| decoded("plaintext", p.expose()).map(SecretBytes::new))
                .transpose()?;
            Ok(DataKey {
                ciphertext: decoded("ciphertext", &answer.ciphertext)?,
                plaintext,
            })
        })
    }

    fn generate_data_key_pair(
        &self,
        key: &str,
        spec: kastell_proto::KeySpec,
        context: &EncryptionContext,
        without_plaintext: bool,
    ) -> Result<Answer<DataKeyPair>, CliError> {
        let request = DataKeyPairRequest {
            key_pair_spec: spec.as_str().to_owned(),
            context: Some(context.clone()),
            without_plaintext,
        };
        self.answer(
            self.client.generate_data_key_pair(key, &request),
            |answer| {
                let private_key = answer
                    .private_key_plaintext
                    .as_ref()
                    .map(|p| decoded("private_key_plaintext", p.expose()).map(SecretBytes::new))
                    .transpose()?;
                Ok(DataKeyPair {
                    key: answer
                        .key_id
                        .parse()
                        .map_err(|e| CliError::internal(format!("the server's `key_id`: {e}")))?,
                    spec,
                    public_key: decoded("public_key", &answer.public_key)?,
                    private_key,
                    private_key_ciphertext: decoded(
                        "private_key_ciphertext",
                        &answer.private_key_ciphertext,
                    )?,
                })
            },
        )
    }

    fn derive_shared_secret(
        &self,
        key: &str,
        peer: &[u8],
    ) -> Result<Answer<SecretBytes>, CliError> {
        let request = DeriveSharedSecretRequest {
            peer_public_key: base64_of(peer),
            algorithm: None,
        };
        self.answer(self.client.derive_shared_secret(key, &request), |answer| {
            decoded("shared_secret", answer.shared_secret.expose()).map(SecretBytes::new)
        })
    }

    fn sign(
        &self,
        key: &str,
        input: Signed<'_>,
        algorithm: Option<SigningAlgorithm>,
    ) -> Result<Answer<Vec<u8>>, CliError> {
        let request = match input {
            Signed::Digest(digest) => SignRequest {
                digest: Some(base64_of(digest)),
                algorithm,
                ..SignRequest::default()
            },
            Signed::Message(message) => SignRequest {
                message: Some(base64_of(message)),
                algorithm,
                ..SignRequest::default()
            },
        };
        self.answer(self.client.sign(key, &request), |answer| {
            decoded("signature", &answer.signature)
        })
    }

    fn verify(
        &self,
        key: &str,
        input: Signed<'_>,
        algorithm: Option<SigningAlgorithm>,
        signature: &[u8],
    ) -> Result<Answer<bool>, CliError> {
        let signature = base64_of(signature);
        let request = match input {
            Signed::Digest(digest) => VerifyRequest {
                digest: Some(base64_of(digest)),
                signature,
                algorithm,
                ..VerifyRequest::default()
            },
            Signed::Message(message) => VerifyRequest {
                message: Some(base64_of(message)),
                signature,
                algorithm,
                ..VerifyRequest::default()
            },
        };
        self.answer(self.client.verify(key, &request), |answer| Ok(answer.valid))
    }

    fn public_key(&self, key: &str) -> Result<Answer<(Vec<u8>, String)>, CliError> {
        self.answer(self.client.public_key(key), |answer| {
            Ok((decoded("spki", &answer.spki)?, answer.pem.clone()))
        })
    }

    fn mac(
        &self,
        key: &str,
        algorithm: Option<MacAlgorithm>,
        message: &[u8],
    ) -> Result<Answer<Vec<u8>>, CliError> {
        let request = MacRequest {
            message: base64_of(message),
            algorithm,
        };
        self.answer(self.client.generate_mac(key, &request), |answer| {
            decoded("mac", &answer.mac)
        })
    }

    fn verify_mac(
        &self,
        key: &str,
        algorithm: Option<MacAlgorithm>,
        message: &[u8],
        mac: &[u8],
    ) -> Result<Answer<bool>, CliError> {
        let request = VerifyMacRequest {
            message: base64_of(message),
            mac: base64_of(mac),
            algorithm,
        };
        self.answer(self.client.verify_mac(key, &request), |answer| {
            Ok(answer.valid)
        })
    }

    fn random(&self, len: usize) -> Result<Answer<SecretBytes>, CliError> {
        self.answer(
            self.client.random(&RandomRequest { length: len }),
            |answer| decoded("random", answer.random.expose()).map(SecretBytes::new),
        )
    }
}

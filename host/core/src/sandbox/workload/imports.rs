//! The workload world's imports as the guest sees them: key handles in the invocation's
//! resource table, the call budgets, and the mapping of the host's answers to the WIT
//! types. What each call does is the [`WorkloadHost`](super::WorkloadHost)'s business.

use kastell_proto::KeySpec;
use wasmtime::component::Resource;

use super::super::generated::workload::kastell::runtime::{attestation, keys, types};
use super::super::verdict;
use super::{
    KeyRef, MAX_ATTESTATIONS, MAX_ERROR, MAX_HANDLES, MAX_KEY_CALLS, MAX_RANDOM, WorkloadKeyError,
    WorkloadState,
};

fn key_error(err: WorkloadKeyError) -> keys::KeyError {
    match err {
        WorkloadKeyError::NotFound => keys::KeyError::NotFound,
        WorkloadKeyError::Disabled => keys::KeyError::Disabled,
        WorkloadKeyError::AccessDenied => keys::KeyError::AccessDenied,
        WorkloadKeyError::InvalidKeyUsage => keys::KeyError::InvalidKeyUsage,
        WorkloadKeyError::InvalidCiphertext => keys::KeyError::InvalidCiphertext,
        WorkloadKeyError::InvalidState => keys::KeyError::InvalidState,
        WorkloadKeyError::InvalidInput(text) => {
            keys::KeyError::InvalidInput(verdict::truncate(&text, MAX_ERROR))
        }
        WorkloadKeyError::Internal(text) => {
            keys::KeyError::Internal(verdict::truncate(&text, MAX_ERROR))
        }
    }
}

fn wit_spec(spec: KeySpec) -> keys::KeySpec {
    match spec {
        KeySpec::Aes256 => keys::KeySpec::Aes256,
        KeySpec::Rsa2048 => keys::KeySpec::Rsa2048,
        KeySpec::Rsa3072 => keys::KeySpec::Rsa3072,
        KeySpec::Rsa4096 => keys::KeySpec::Rsa4096,
        KeySpec::EccNistP256 => keys::KeySpec::EccNistP256,
        KeySpec::EccNistP384 => keys::KeySpec::EccNistP384,
        KeySpec::EccNistP521 => keys::KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1 => keys::KeySpec::EccSecgP256k1,
        KeySpec::Hmac224 => keys::KeySpec::Hmac224,
        KeySpec::Hmac256 => keys::KeySpec::Hmac256,
        KeySpec::HmacSha384 => keys::KeySpec::Hmac384,
        KeySpec::Hmac512 => keys::KeySpec::Hmac512,
        KeySpec::MlDsa44 => keys::KeySpec::MlDsa44,
        KeySpec::MlDsa65 => keys::KeySpec::MlDsa65,
        KeySpec::MlDsa87 => keys::KeySpec::MlDsa87,
    }
}

impl WorkloadState {
    /// The key behind `handle`, counting one key call; `None` once the budget is spent.
    fn key(&mut self, handle: &Resource<KeyRef>) -> wasmtime::Result<Option<KeyRef>> {
        let key = self.table.get(handle)?.clone();
        Ok(self.count_call().then_some(key))
    }

    /// Counts a key call; false once [`MAX_KEY_CALLS`] were made.
    fn count_call(&mut self) -> bool {
        self.calls = self.calls.saturating_add(1);
        self.calls <= MAX_KEY_CALLS
    }
}

fn calls_spent() -> keys::KeyError {
    keys::KeyError::InvalidInput(format!("at most {MAX_KEY_CALLS} key calls per invocation"))
}

type KeyResult<T> = wasmtime::Result<Result<T, keys::KeyError>>;

impl keys::HostKeyHandle for WorkloadState {
    fn open(&mut self, key_id: String) -> KeyResult<Resource<KeyRef>> {
        if !self.count_call() {
            return Ok(Err(calls_spent()));
        }
        if self.handles >= MAX_HANDLES {
            return Ok(Err(keys::KeyError::InvalidInput(format!(
                "at most {MAX_HANDLES} key handles may be open at once"
            ))));
        }
        match self.host.open(&key_id) {
            Ok(key) => {
                let handle = self.table.push(key)?;
                self.handles += 1;
                Ok(Ok(handle))
            }
            Err(err) => Ok(Err(key_error(err))),
        }
    }

    fn id(&mut self, handle: Resource<KeyRef>) -> wasmtime::Result<String> {
        Ok(self.table.get(&handle)?.id.clone())
    }

    fn spec(&mut self, handle: Resource<KeyRef>) -> wasmtime::Result<keys::KeySpec> {
        Ok(wit_spec(self.table.get(&handle)?.spec))
    }

    fn encrypt(
        &mut self,
        handle: Resource<KeyRef>,
        plaintext: Vec<u8>,
        context: Vec<(String, String)>,
    ) -> KeyResult<Vec<u8>> {
        let Some(key) = self.key(&handle)? else {
            return Ok(Err(calls_spent()));
        };
        Ok(self
            .host
            .encrypt(&key, &plaintext, context)
            .map_err(key_error))
    }

    fn decrypt(
        &mut self,
        handle: Resource<KeyRef>,
        ciphertext: Vec<u8>,
        context: Vec<(String, String)>,
    ) -> KeyResult<Vec<u8>> {
        let Some(key) = self.key(&handle)? else {
            return Ok(Err(calls_spent()));
        };
        Ok(self
            .host
            .decrypt(&key, &ciphertext, context)
            .map_err(key_error))
    }

    fn generate_data_key(
        &mut self,
        handle: Resource<KeyRef>,
        context: Vec<(String, String)>,
    ) -> KeyResult<keys::DataKey> {
        let Some(key) = self.key(&handle)? else {
            return Ok(Err(calls_spent()));
        };
        Ok(self
            .host
            .generate_data_key(&key, context)
            .map(|(plaintext, ciphertext)| keys::DataKey {
                plaintext,
                ciphertext,
            })
            .map_err(key_error))
    }

    fn sign(&mut self, handle: Resource<KeyRef>, message: Vec<u8>) -> KeyResult<Vec<u8>> {
        let Some(key) = self.key(&handle)? else {
            return Ok(Err(calls_spent()));
        };
        Ok(self.host.sign(&key, &message).map_err(key_error))
    }

    fn verify(
        &mut self,
        handle: Resource<KeyRef>,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> KeyResult<bool> {
        let Some(key) = self.key(&handle)? else {
            return Ok(Err(calls_spent()));
        };
        Ok(self
            .host
            .verify(&key, &message, &signature)
            .map_err(key_error))
    }

    fn mac(&mut self, handle: Resource<KeyRef>, message: Vec<u8>) -> KeyResult<Vec<u8>> {
        let Some(key) = self.key(&handle)? else {
            return Ok(Err(calls_spent()));
        };
        Ok(self.host.mac(&key, &message).map_err(key_error))
    }

    fn verify_mac(
        &mut self,
        handle: Resource<KeyRef>,
        message: Vec<u8>,
        mac: Vec<u8>,
    ) -> KeyResult<bool> {
        let Some(key) = self.key(&handle)? else {
            return Ok(Err(calls_spent()));
        };
        Ok(self
            .host
            .verify_mac(&key, &message, &mac)
            .map_err(key_error))
    }

    fn drop(&mut self, handle: Resource<KeyRef>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.handles = self.handles.saturating_sub(1);
        Ok(())
    }
}

impl types::Host for WorkloadState {}

impl keys::Host for WorkloadState {
    fn random(&mut self, len: u32) -> KeyResult<Vec<u8>> {
        if !self.count_call() {
            return Ok(Err(calls_spent()));
        }
        if len > MAX_RANDOM {
            return Ok(Err(keys::KeyError::InvalidInput(format!(
                "asked for {len} random bytes; at most {MAX_RANDOM} per call"
            ))));
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        Ok(self.host.random(len).map_err(key_error))
    }
}

impl attestation::Host for WorkloadState {
    fn attest(
        &mut self,
        nonce: Vec<u8>,
        public_key: Vec<u8>,
        user_data: Vec<u8>,
    ) -> wasmtime::Result<Result<attestation::AttestationEvidence, String>> {
        self.attestations = self.attestations.saturating_add(1);
        if self.attestations > MAX_ATTESTATIONS {
            return Ok(Err(format!(
                "at most {MAX_ATTESTATIONS} attestations per invocation"
            )));
        }
        Ok(self
            .host
            .attest(&nonce, &public_key, &user_data)
            .map(|out| attestation::AttestationEvidence {
                certificate: out.certificate,
                document: out.document,
                chain: out.chain,
            }))
    }
}

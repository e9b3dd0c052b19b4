//! Typed calls for keys: administration, use and attested release, each naming its method
//! and path, the request type it sends and the answer type it reads. A change under quorum
//! answers [`Gated`]: its result, or the pending operation it became.

use kastell_proto::api::{
    AliasRequest, AliasResponse, BindPolicyRequest, ChallengeResponse, CiphertextResponse,
    CreateKeyRequest, DataKeyPairRequest, DataKeyPairResponse, DataKeyRequest, DataKeyResponse,
    DecryptRequest, DeriveSharedSecretRequest, EncryptRequest, Gated, KeyDescription, KeyPage,
    ListQuery, MacRequest, MacResponse, MinVersionRequest, PlaintextResponse, PublicKeyResponse,
    RandomRequest, RandomResponse, ReEncryptRequest, ReleaseBody, ReleaseResponse,
    ScheduleDeletionRequest, SharedSecretResponse, SignRequest, SignResponse, TagsRequest,
    ValidResponse, VerifyMacRequest, VerifyRequest,
};

use super::{Client, RemoteError, segment};

/// `/v1/keys/{key}{action}`, the key (id or alias) percent-encoded.
fn key_path(key: &str, action: &str) -> String {
    format!("/v1/keys/{}{action}", segment(key))
}

/// Key administration (crypto-officer).
impl Client {
    /// `POST /v1/keys`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn create_key(&self, request: &CreateKeyRequest) -> Result<KeyDescription, RemoteError> {
        self.post("/v1/keys", request)
    }

    /// `GET /v1/keys`: a page of keys.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn list_keys(&self, query: &ListQuery) -> Result<KeyPage, RemoteError> {
        self.get_query("/v1/keys", query)
    }

    /// `GET /v1/keys/{key}`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn describe_key(&self, key: &str) -> Result<KeyDescription, RemoteError> {
        self.get(&key_path(key, ""))
    }

    /// `POST /v1/keys/{key}/rotate`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn rotate_key(&self, key: &str) -> Result<KeyDescription, RemoteError> {
        self.post_empty(&key_path(key, "/rotate"))
    }

    /// `POST /v1/keys/{key}/enable` or `…/disable`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn set_enabled(&self, key: &str, enabled: bool) -> Result<KeyDescription, RemoteError> {
        let action = if enabled { "/enable" } else { "/disable" };
        self.post_empty(&key_path(key, action))
    }

    /// `POST /v1/keys/{key}/cancel-deletion`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn cancel_deletion(&self, key: &str) -> Result<KeyDescription, RemoteError> {
        self.post_empty(&key_path(key, "/cancel-deletion"))
    }

    /// `POST /v1/keys/{key}/schedule-deletion` (quorum class `delete-key`).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn schedule_deletion(
        &self,
        key: &str,
        request: &ScheduleDeletionRequest,
    ) -> Result<Gated<KeyDescription>, RemoteError> {
        self.post(&key_path(key, "/schedule-deletion"), request)
    }

    /// `PUT /v1/aliases/{name}`: `name` without its `alias/` prefix (quorum class
    /// `bind-policy`).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn set_alias(
        &self,
        name: &str,
        request: &AliasRequest,
    ) -> Result<Gated<AliasResponse>, RemoteError> {
        self.put(&format!("/v1/aliases/{}", segment(name)), request)
    }

    /// `PUT /v1/keys/{key}/tags` (quorum class `bind-policy`).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn update_tags(
        &self,
        key: &str,
        request: &TagsRequest,
    ) -> Result<Gated<KeyDescription>, RemoteError> {
        self.put(&key_path(key, "/tags"), request)
    }

    /// `PUT /v1/keys/{key}/policy` (quorum class `bind-policy`).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn bind_policy(
        &self,
        key: &str,
        request: &BindPolicyRequest,
    ) -> Result<Gated<KeyDescription>, RemoteError> {
        self.put(&key_path(key, "/policy"), request)
    }

    /// `PUT /v1/keys/{key}/min-decryption-version`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn set_min_decryption_version(
        &self,
        key: &str,
        request: &MinVersionRequest,
    ) -> Result<KeyDescription, RemoteError> {
        self.put(&key_path(key, "/min-decryption-version"), request)
    }
}

/// Key use (crypto-user).
impl Client {
    /// `POST /v1/keys/{key}/encrypt`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn encrypt(
        &self,
        key: &str,
        request: &EncryptRequest,
    ) -> Result<CiphertextResponse, RemoteError> {
        self.post(&key_path(key, "/encrypt"), request)
    }

    /// `POST /v1/decrypt`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn decrypt(&self, request: &DecryptRequest) -> Result<PlaintextResponse, RemoteError> {
        self.post("/v1/decrypt", request)
    }

    /// `POST /v1/re-encrypt`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn re_encrypt(
        &self,
        request: &ReEncryptRequest,
    ) -> Result<CiphertextResponse, RemoteError> {
        self.post("/v1/re-encrypt", request)
    }

    /// `POST /v1/keys/{key}/generate-data-key`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn generate_data_key(
        &self,
        key: &str,
        request: &DataKeyRequest,
    ) -> Result<DataKeyResponse, RemoteError> {
        self.post(&key_path(key, "/generate-data-key"), request)
    }

    /// `POST /v1/keys/{key}/generate-data-key-pair`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn generate_data_key_pair(
        &self,
        key: &str,
        request: &DataKeyPairRequest,
    ) -> Result<DataKeyPairResponse, RemoteError> {
        self.post(&key_path(key, "/generate-data-key-pair"), request)
    }

    /// `POST /v1/keys/{key}/derive-shared-secret`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn derive_shared_secret(
        &self,
        key: &str,
        request: &DeriveSharedSecretRequest,
    ) -> Result<SharedSecretResponse, RemoteError> {
        self.post(&key_path(key, "/derive-shared-secret"), request)
    }

    /// `POST /v1/keys/{key}/sign`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn sign(&self, key: &str, request: &SignRequest) -> Result<SignResponse, RemoteError> {
        self.post(&key_path(key, "/sign"), request)
    }

    /// `POST /v1/keys/{key}/verify`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn verify(&self, key: &str, request: &VerifyRequest) -> Result<ValidResponse, RemoteError> {
        self.post(&key_path(key, "/verify"), request)
    }

    /// `GET /v1/keys/{key}/public-key`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn public_key(&self, key: &str) -> Result<PublicKeyResponse, RemoteError> {
        self.get(&key_path(key, "/public-key"))
    }

    /// `POST /v1/keys/{key}/mac`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn generate_mac(
        &self,
        key: &str,
        request: &MacRequest,
    ) -> Result<MacResponse, RemoteError> {
        self.post(&key_path(key, "/mac"), request)
    }

    /// `POST /v1/keys/{key}/verify-mac`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn verify_mac(
        &self,
        key: &str,
        request: &VerifyMacRequest,
    ) -> Result<ValidResponse, RemoteError> {
        self.post(&key_path(key, "/verify-mac"), request)
    }

    /// `POST /v1/random`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn random(&self, request: &RandomRequest) -> Result<RandomResponse, RemoteError> {
        self.post("/v1/random", request)
    }
}

/// Attested release (crypto-user).
impl Client {
    /// `POST /v1/keys/{key}/release/challenge`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn release_challenge(&self, key: &str) -> Result<ChallengeResponse, RemoteError> {
        self.post_empty(&key_path(key, "/release/challenge"))
    }

    /// `POST /v1/keys/{key}/release`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn release(
        &self,
        key: &str,
        request: &ReleaseBody,
    ) -> Result<ReleaseResponse, RemoteError> {
        self.post(&key_path(key, "/release"), request)
    }
}

//! Typed calls for the AWS KMS grants of a key (`/v1/keys/{key}/grants`).

use kastell_proto::api::{CreateGrantBody, GrantDescription, GrantList, GrantRemoved};

use super::{Client, RemoteError, segment};

/// `/v1/keys/{key}/grants{rest}`, key and grant percent-encoded by the caller.
fn grants_path(key: &str, rest: &str) -> String {
    format!("/v1/keys/{}/grants{rest}", segment(key))
}

impl Client {
    /// `GET /v1/keys/{key}/grants`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn list_grants(&self, key: &str) -> Result<GrantList, RemoteError> {
        self.get(&grants_path(key, ""))
    }

    /// `POST /v1/keys/{key}/grants`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn create_grant(
        &self,
        key: &str,
        body: &CreateGrantBody,
    ) -> Result<GrantDescription, RemoteError> {
        self.post(&grants_path(key, ""), body)
    }

    /// `POST /v1/keys/{key}/grants/{grant}/retire`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn retire_grant(&self, key: &str, grant: &str) -> Result<GrantRemoved, RemoteError> {
        self.post_empty(&grants_path(key, &format!("/{}/retire", segment(grant))))
    }

    /// `DELETE /v1/keys/{key}/grants/{grant}`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn revoke_grant(&self, key: &str, grant: &str) -> Result<GrantRemoved, RemoteError> {
        self.delete(&grants_path(key, &format!("/{}", segment(grant))))
    }
}

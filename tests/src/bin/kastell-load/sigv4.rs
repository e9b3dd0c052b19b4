//! `--sigv4`: every request signed with AWS Signature Version 4 (service `kms`, the
//! `--aws-region`), as aws-sdk-rust signs it (the `aws-sigv4` crate), for the AWS
//! KMS-compatible endpoint. Each request is signed when it is sent, with the current time,
//! so the signing cost falls on the load generator, never on the server.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::header::HeaderMap;

use crate::BoxError;

/// An access key and the region its signatures are scoped to.
pub(crate) struct Signer {
    identity: Identity,
    region: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer for `ACCESS_KEY_ID:SECRET` in `region`.
    ///
    /// # Errors
    /// When `spec` has no `:` or either side is empty, or `region` is empty.
    pub(crate) fn parse(spec: &str, region: &str) -> Result<Self, BoxError> {
        let (id, secret) = spec
            .split_once(':')
            .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
            .ok_or("--sigv4 must be ACCESS_KEY_ID:SECRET")?;
        if region.is_empty() {
            return Err("--aws-region must not be empty".into());
        }
        Ok(Self {
            identity: Credentials::new(id, secret, None, None, "kastell-load").into(),
            region: region.to_owned(),
        })
    }

    /// The headers that sign a request (`authorization`, `x-amz-date`), covering `host`,
    /// the given `headers` and the body.
    ///
    /// # Errors
    /// When a header value is not text or the signer refuses the request.
    pub(crate) fn sign(
        &self,
        method: &reqwest::Method,
        url: &reqwest::Url,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        let mut signed = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            let value = value
                .to_str()
                .map_err(|_| format!("header {name} is not text: cannot sign it"))?;
            signed.push((name.as_str(), value));
        }
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("SigV4 parameters: {e}"))?
            .into();
        let request = SignableRequest::new(
            method.as_str(),
            url.as_str(),
            signed.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("SigV4 request: {e}"))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| format!("SigV4 signing: {e}"))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
    }
}

//! `--sigv4`: every request signed with AWS Signature Version 4 (service `kms`, the
//! `--aws-region`), as aws-sdk-rust signs it (the `aws-sigv4` crate), for the AWS
//! KMS-compatible endpoint. Each request is signed when it is sent, with the current time,
//! so the signing cost falls on the load generator, never on the server.
//!
//! `X-Amz-Date` counts whole seconds, so requests that are the same (method, URL, headers,
//! body) and sent within the same second get the same signature from any signer: the last
//! one made is reused for them rather than computed again, so that the generator's core (to
//! which a pinned benchmark confines it) is not spent signing the same bytes thousands of
//! times a second. The server verifies every request in full either way.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::header::HeaderMap;

use crate::BoxError;

/// An access key, the region its signatures are scoped to, and the last signature made.
pub(crate) struct Signer {
    identity: Identity,
    region: String,
    last: Mutex<Option<Signed>>,
}

/// A request as signed in one second, and the headers that signed it.
struct Signed {
    second: u64,
    method: String,
    url: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
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
            last: Mutex::new(None),
        })
    }

    /// The headers that sign a request (`authorization`, `x-amz-date`), covering `host`,
    /// the given `headers` and the body, at the current second: the last signature when it
    /// was made for the same request in the same second (`headers` are the run's, the same
    /// for every request).
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
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("the clock is before 1970: {e}"))?
            .as_secs();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(signed) = last.as_ref()
            && signed.second == second
            && signed.method == method.as_str()
            && signed.url == url.as_str()
            && signed.body == body
        {
            return Ok(signed.headers.clone());
        }
        let made = self.sign_at(
            UNIX_EPOCH + Duration::from_secs(second),
            method,
            url,
            headers,
            body,
        )?;
        *last = Some(Signed {
            second,
            method: method.as_str().to_owned(),
            url: url.as_str().to_owned(),
            body: body.to_vec(),
            headers: made.clone(),
        });
        Ok(made)
    }

    /// The headers that sign a request at `time`, computed now.
    fn sign_at(
        &self,
        time: SystemTime,
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
            .time(time)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> (reqwest::Method, reqwest::Url, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", "TrentService.Encrypt".parse().unwrap());
        (
            reqwest::Method::POST,
            "https://127.0.0.1:8444/".parse().unwrap(),
            headers,
        )
    }

    #[test]
    fn a_reused_signature_is_the_one_the_signer_makes_for_that_second() {
        let signer = Signer::parse("KSTLAAAAAAAAAAAAAAAA:secret", "eu-central-1").unwrap();
        let (method, url, headers) = request();
        let first = signer.sign(&method, &url, &headers, b"{}").unwrap();
        let second = signer.sign(&method, &url, &headers, b"{}").unwrap();
        let date = |signed: &[(String, String)]| {
            signed
                .iter()
                .find(|(name, _)| name == "x-amz-date")
                .map(|(_, value)| value.clone())
                .unwrap()
        };
        // Unless the second turned between the two calls, the second was reused: it is the
        // signature computed afresh for its second.
        let at = signer.last.lock().unwrap().as_ref().unwrap().second;
        let fresh = signer
            .sign_at(
                UNIX_EPOCH + Duration::from_secs(at),
                &method,
                &url,
                &headers,
                b"{}",
            )
            .unwrap();
        assert_eq!(second, fresh);
        if date(&first) == date(&second) {
            assert_eq!(first, second);
        }
        // Another body is signed anew.
        let other = signer.sign(&method, &url, &headers, b"{\"a\":1}").unwrap();
        let signature = |signed: &[(String, String)]| {
            signed
                .iter()
                .find(|(name, _)| name == "authorization")
                .map(|(_, value)| value.clone())
                .unwrap()
        };
        assert_ne!(signature(&other), signature(&second));
    }
}

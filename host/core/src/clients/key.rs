//! A client's own P-384 key (`key.pem`): generated where the client will live, kept in a
//! file only its owner reads, and used by an officer to sign approvals. The secret scalar
//! is zeroized on drop (by `p384`), its PEM only in zeroizing memory.

use std::path::Path;

use p384::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};

use super::{ClientError, KEY_FILE, PUBLIC_KEY_FILE, create_private_dir, file_error, write_file};

/// A client's P-384 private key. `Debug` shows only the type name.
pub struct ClientKey(p384::SecretKey);

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey").finish_non_exhaustive()
    }
}

impl ClientKey {
    /// A new key from the operating system's generator.
    #[must_use]
    pub fn generate() -> Self {
        Self(p384::SecretKey::random(&mut rand_core::OsRng))
    }

    /// Reads a PKCS#8 PEM P-384 key.
    ///
    /// # Errors
    /// [`ClientError::File`] naming the file: unreadable, or not a P-384 key.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let pem = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| file_error(path, e))?,
        );
        p384::SecretKey::from_pkcs8_pem(&pem)
            .map(Self)
            .map_err(|e| file_error(path, format!("not a P-384 key: {e}")))
    }

    /// Writes the key as PKCS#8 PEM, mode 0600 (atomically, durably).
    ///
    /// # Errors
    /// [`ClientError::File`] naming the file.
    pub fn write(&self, path: &Path) -> Result<(), ClientError> {
        let pem = self
            .0
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| file_error(path, e))?;
        write_file(path, pem.as_bytes())
    }

    /// Makes a new key in `dir` (created owner-only if absent): `key.pem` (0600) and
    /// `public.pem`, whose path it returns. The private key never leaves `dir`.
    ///
    /// # Errors
    /// [`ClientError::Exists`] when `dir` holds a key already; [`ClientError::File`].
    pub fn create_in(dir: &Path) -> Result<std::path::PathBuf, ClientError> {
        let dir = std::path::absolute(dir).map_err(|e| file_error(dir, e))?;
        if dir.join(KEY_FILE).exists() {
            return Err(ClientError::Exists(dir));
        }
        create_private_dir(&dir)?;
        let key = Self::generate();
        key.write(&dir.join(KEY_FILE))?;
        let public = dir.join(PUBLIC_KEY_FILE);
        write_file(&public, key.public_key_pem()?.as_bytes())?;
        Ok(public)
    }

    /// Reads a P-384 public key (SPKI PEM).
    ///
    /// # Errors
    /// [`ClientError::File`] naming the file: unreadable, or not a P-384 public key.
    pub fn read_public(path: &Path) -> Result<p384::PublicKey, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
        p384::PublicKey::from_public_key_pem(text.trim())
            .map_err(|e| file_error(path, format!("not a P-384 public key (SPKI PEM): {e}")))
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> p384::PublicKey {
        self.0.public_key()
    }

    /// The public key as SPKI PEM (what a certificate request carries).
    ///
    /// # Errors
    /// [`ClientError::File`] if the encoder fails (it does not for a valid key).
    pub fn public_key_pem(&self) -> Result<String, ClientError> {
        self.0
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| file_error(Path::new("public key"), e))
    }

    /// The same key as an HPKE recipient: what opens an access key's secret sealed to this
    /// client's public key (`kastell access-key create|collect`).
    ///
    /// # Errors
    /// [`ClientError::File`] if the scalar is refused (it is not, for a valid key).
    pub fn recipient_key(&self) -> Result<kastell_attest::hpke::RecipientKey, ClientError> {
        let field = zeroize::Zeroizing::new(self.0.to_bytes());
        let mut bytes = zeroize::Zeroizing::new([0u8; kastell_attest::hpke::PRIVATE_KEY_LEN]);
        bytes.copy_from_slice(&field);
        kastell_attest::hpke::RecipientKey::from_bytes(&bytes)
            .map_err(|e| file_error(Path::new("client key"), e))
    }

    /// A DER ECDSA P-384/SHA-384 signature over `message`.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signing = p384::ecdsa::SigningKey::from(&self.0);
        let signature: p384::ecdsa::Signature = signature::Signer::sign(&signing, message);
        signature.to_der().as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_key_loads_back_and_its_signatures_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        let key = ClientKey::generate();
        key.write(&path).expect("write");
        let loaded = ClientKey::load(&path).expect("load");
        assert_eq!(loaded.public_key(), key.public_key());
        let der = loaded.sign(b"kastell-approval-v1\n{}");
        let signature = p384::ecdsa::Signature::from_der(&der).expect("DER");
        signature::Verifier::verify(
            &p384::ecdsa::VerifyingKey::from(&key.public_key()),
            b"kastell-approval-v1\n{}",
            &signature,
        )
        .expect("verifies");
        assert_eq!(format!("{key:?}"), "ClientKey { .. }");
    }

    #[test]
    fn a_file_that_is_not_a_key_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "not a key").expect("write");
        let err = ClientKey::load(&path).expect_err("not a key");
        let shown = err.to_string();
        assert!(
            shown.contains("key.pem") && shown.contains("not a P-384 key"),
            "{shown}"
        );
    }
}

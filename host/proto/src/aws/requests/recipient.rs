//! The answers of `Decrypt`, `GenerateDataKey`, `GenerateDataKeyPair`, `GenerateRandom`
//! and `DeriveSharedSecret` to a request with a `Recipient` (an attestation document): the
//! secret only in `CiphertextForRecipient`, encrypted to the attested key, and no
//! plaintext member (AWS: "The Plaintext field in the response is null or empty").

use alloc::string::String;

/// `Decrypt` with `Recipient`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct DecryptForRecipientResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Base64 of the plaintext encrypted to the attested key.
    pub ciphertext_for_recipient: String,
    /// The algorithm used.
    pub encryption_algorithm: String,
}

/// `GenerateDataKey` with `Recipient`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GenerateDataKeyForRecipientResponse {
    /// Base64 of the data key encrypted under the key.
    pub ciphertext_blob: String,
    /// Base64 of the data key encrypted to the attested key.
    pub ciphertext_for_recipient: String,
    /// The key's ARN.
    pub key_id: String,
}

/// `GenerateDataKeyPair` with `Recipient`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GenerateDataKeyPairForRecipientResponse {
    /// Base64 of the private key (PKCS#8) as a Kastell ciphertext under the key.
    pub private_key_ciphertext_blob: String,
    /// Base64 of the private key (PKCS#8 DER) encrypted to the attested key.
    pub ciphertext_for_recipient: String,
    /// Base64 of the public key, SubjectPublicKeyInfo DER.
    pub public_key: String,
    /// The key's ARN.
    pub key_id: String,
    /// The pair's spec.
    pub key_pair_spec: String,
}

/// `GenerateRandom` with `Recipient`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GenerateRandomForRecipientResponse {
    /// Base64 of the random bytes encrypted to the attested key.
    pub ciphertext_for_recipient: String,
}

/// `DeriveSharedSecret` with `Recipient`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct DeriveSharedSecretForRecipientResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Base64 of the shared secret encrypted to the attested key.
    pub ciphertext_for_recipient: String,
    /// `ECDH`.
    pub key_agreement_algorithm: String,
    /// `AWS_KMS`.
    pub key_origin: String,
}

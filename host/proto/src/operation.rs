//! What a caller asks for: the operations policies decide on and the audit trail names.

use crate::names::vocabulary;

vocabulary! {
    /// The operation a caller asks for (kebab-case, as in the WIT).
    pub enum Operation as "operation" {
        /// Encrypt with a key.
        Encrypt = "encrypt",
        /// Decrypt with a key.
        Decrypt = "decrypt",
        /// Generate a data key, returned wrapped and in plaintext.
        GenerateDataKey = "generate-data-key",
        /// Generate a data key, returned wrapped only.
        GenerateDataKeyWithoutPlaintext = "generate-data-key-without-plaintext",
        /// Re-encrypt, as the source key's policy and audit record see it: a ciphertext
        /// of this key is decrypted to be encrypted under another.
        ReEncryptFrom = "re-encrypt-from",
        /// Re-encrypt, as the destination key's policy and audit record see it: a
        /// ciphertext of another key is encrypted under this one.
        ReEncryptTo = "re-encrypt-to",
        /// Sign a message or digest.
        Sign = "sign",
        /// Verify a signature.
        Verify = "verify",
        /// Generate a MAC.
        GenerateMac = "generate-mac",
        /// Verify a MAC.
        VerifyMac = "verify-mac",
        /// Random bytes from the token.
        GenerateRandom = "generate-random",
        /// Export a public key.
        GetPublicKey = "get-public-key",
        /// Release key material to an attested guest.
        Release = "release",
        /// Create a key.
        CreateKey = "create-key",
        /// Describe a key.
        DescribeKey = "describe-key",
        /// Rotate a key (new version).
        RotateKey = "rotate-key",
        /// Enable a key.
        EnableKey = "enable-key",
        /// Disable a key.
        DisableKey = "disable-key",
        /// Schedule a key's deletion.
        ScheduleKeyDeletion = "schedule-key-deletion",
        /// Cancel a scheduled deletion.
        CancelKeyDeletion = "cancel-key-deletion",
        /// Bind a policy to a key.
        BindPolicy = "bind-policy",
        /// Change a key's tags.
        UpdateTags = "update-tags",
        /// Point an alias at a key.
        UpdateAlias = "update-alias",
        /// Set a key's minimum decryption version.
        SetMinDecryptionVersion = "set-min-decryption-version",
        /// Destroy a key's material at the end of its deletion window.
        DestroyKey = "destroy-key",
        /// Derive a shared secret (ECDH) with a peer's public key.
        DeriveSharedSecret = "derive-shared-secret",
        /// Generate a data key pair, the private key returned in plaintext and wrapped.
        GenerateDataKeyPair = "generate-data-key-pair",
        /// Generate a data key pair, the private key returned wrapped only.
        GenerateDataKeyPairWithoutPlaintext = "generate-data-key-pair-without-plaintext",
    }
}

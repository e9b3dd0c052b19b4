//! Secret values, one idiom for the whole project: a newtype that is zeroized on drop,
//! whose `Debug` prints only its type name, and that is read through an explicit
//! `expose`. A struct that holds one can derive `Debug` without leaking it.
//!
//! - [`SecretBytes`]: key material, unwrapped keys, released keys, decrypted plaintext
//!   (host, attestation crate and guest SDK alike); compared in constant time.
//! - [`api::SecretBase64`](crate::api::SecretBase64): the same, for a secret carried as
//!   base64 text in an API body.
//! - PINs and passphrases are `secrecy::SecretString`, the type PKCS#11 (`cryptoki`)
//!   logs in with.
//!
//! `zeroize::Zeroizing` is kept for buffers that live inside one function.

use alloc::vec::Vec;
use core::fmt;

use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes that must not leak: key material, unwrapped keys, decrypted plaintext.
///
/// `Debug` prints only the type name; the bytes are wiped when the value is dropped.
/// Reading them takes an explicit [`SecretBytes::expose`].
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes`.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes. Every call site is a place where the secret is used.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBytes").finish_non_exhaustive()
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn debug_never_shows_the_bytes() {
        let secret = SecretBytes::from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let shown = format!("{secret:?} {secret:#?}");
        assert!(
            !shown.contains("222") && !shown.to_lowercase().contains("de"),
            "{shown}"
        );
        assert!(shown.contains("SecretBytes"));
    }

    #[test]
    fn a_derived_debug_of_a_holder_does_not_leak_either() {
        #[derive(Debug)]
        #[allow(dead_code, reason = "only Debug reads the fields")]
        struct Holder {
            name: &'static str,
            key: SecretBytes,
        }
        let shown = format!(
            "{:?}",
            Holder {
                name: "k",
                key: SecretBytes::from_slice(b"hunter2-key"),
            }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("104"), "{shown}"); // b'h' as a number
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(
            SecretBytes::from_slice(b"abc"),
            SecretBytes::from_slice(b"abc")
        );
        assert_ne!(
            SecretBytes::from_slice(b"abc"),
            SecretBytes::from_slice(b"abd")
        );
        assert_ne!(
            SecretBytes::from_slice(b"abc"),
            SecretBytes::from_slice(b"ab")
        );
    }
}

//! The encryption context: name/value pairs bound to a ciphertext, and its canonical form.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Encryption context: name/value pairs bound to a ciphertext. Not secret, but never
/// logged: `Debug` shows only how many entries it has.
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EncryptionContext(pub BTreeMap<String, String>);

/// A context given as pairs names one name twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateName(pub String);

impl fmt::Display for DuplicateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "encryption context names `{}` twice", self.0)
    }
}

impl core::error::Error for DuplicateName {}

impl fmt::Debug for EncryptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionContext")
            .field("entries", &self.0.len())
            .finish_non_exhaustive()
    }
}

impl EncryptionContext {
    /// The context of these pairs, in any order.
    ///
    /// # Errors
    /// [`DuplicateName`] when a name occurs twice (a context is a map).
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Self, DuplicateName>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            let name = name.into();
            if map.contains_key(&name) {
                return Err(DuplicateName(name));
            }
            map.insert(name, value.into());
        }
        Ok(Self(map))
    }

    /// The canonical, unambiguous encoding: entry count, then each entry in name order
    /// (byte-wise) as length-prefixed name and value (lengths u32 big-endian, saturating).
    /// The AAD of every ciphertext ends with it, and the audit trail's context HMAC is
    /// computed over it.
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            4 + self
                .0
                .iter()
                .map(|(name, value)| 8 + name.len() + value.len())
                .sum::<usize>(),
        );
        push_len(&mut out, self.0.len());
        for (name, value) in &self.0 {
            for part in [name, value] {
                push_len(&mut out, part.len());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::*;

    fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext::from_pairs(pairs.iter().copied()).expect("distinct names")
    }

    #[test]
    fn canonical_context_is_order_independent_and_unambiguous() {
        let a = context(&[("tenant", "acme"), ("record", "7")]);
        let b = context(&[("record", "7"), ("tenant", "acme")]);
        assert_eq!(a.canonical(), b.canonical());
        // "ab"+"c" must not collide with "a"+"bc".
        assert_ne!(
            context(&[("ab", "c")]).canonical(),
            context(&[("a", "bc")]).canonical()
        );
        assert_eq!(EncryptionContext::default().canonical(), [0, 0, 0, 0]);
    }

    #[test]
    fn a_name_given_twice_is_refused_by_name() {
        let err = EncryptionContext::from_pairs([("a", "1"), ("a", "2")]).expect_err("twice");
        assert_eq!(format!("{err}"), "encryption context names `a` twice");
    }

    #[test]
    fn debug_does_not_show_names_or_values() {
        let shown = format!("{:?}", context(&[("patient", "alice-1234")]));
        assert!(
            !shown.contains("alice") && !shown.contains("patient"),
            "{shown}"
        );
        assert!(shown.contains("entries: 1"), "{shown}");
    }
}

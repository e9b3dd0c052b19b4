//! The key model: what a key is, independent of where it is stored.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use kastell_attest::Measurement;

use kastell_proto::{KeyId, KeySpec, KeyUsage, Origin};

/// A key's life-cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Kept, but every operation is refused until enabled again.
    Disabled,
    /// Scheduled for destruction at this Unix time (7–30 days after scheduling); can be
    /// cancelled until then; every operation is refused.
    PendingDeletion {
        /// When the material is destroyed, Unix seconds.
        delete_at: i64,
    },
    /// Material destroyed; the record stays for the audit trail.
    Destroyed,
    /// An `external` key without material: created so, or its imported material deleted
    /// or expired. Every use is refused until material is imported (AWS's
    /// `PendingImport`).
    PendingImport,
}

/// The label of version `version` of key `key` on the token: `kastell-{key id}-v{version}`.
/// A token-resident version is only ever named by this label, derived from the key id and
/// version number, never by a label read from the store: a record edited to name another
/// token object (the root CA key, the master key) cannot reach it.
#[must_use]
pub fn token_label(key: &KeyId, version: u32) -> String {
    format!("kastell-{key}-v{version}")
}

/// The key and version a [`token_label`] names; `None` for any other label (the service's
/// own keys).
#[must_use]
pub fn key_version_of_label(label: &str) -> Option<(KeyId, u32)> {
    let (key, version) = label.strip_prefix("kastell-")?.rsplit_once("-v")?;
    let found = (key.parse().ok()?, version.parse().ok()?);
    (token_label(&found.0, found.1) == label).then_some(found)
}

/// Where one version's material is.
#[derive(Clone, PartialEq, Eq)]
pub enum Material {
    /// A token-resident key, on the token under [`token_label`] of its key and version.
    Token,
    /// Wrapped key bytes and the label of the master key that wrapped them.
    Wrapped {
        /// The master key's label on the token.
        master: String,
        /// RFC 5649 output. Not secret, but only useful with the token.
        wrapped: Vec<u8>,
    },
    /// Destroyed when the key's deletion window ended: the token object is gone and the
    /// wrapped bytes were erased from the store.
    Destroyed,
    /// The store names token object `0` for a token-resident version, which is not the
    /// version's own [`token_label`]: the record was edited. Never used; every operation
    /// on it is refused as tampering.
    ForeignLabel(String),
}

impl Material {
    /// The material of token-resident version `version` of `key` whose stored record names
    /// the token object `label`: [`Material::Token`] when that is the version's own label,
    /// [`Material::ForeignLabel`] otherwise.
    #[must_use]
    pub fn from_stored_label(key: &KeyId, version: u32, label: String) -> Self {
        if label == token_label(key, version) {
            Self::Token
        } else {
            Self::ForeignLabel(label)
        }
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token => f.write_str("Token"),
            Self::ForeignLabel(label) => f.debug_tuple("ForeignLabel").field(label).finish(),
            Self::Wrapped { master, wrapped } => f
                .debug_struct("Wrapped")
                .field("master", master)
                .field("len", &wrapped.len())
                .finish_non_exhaustive(),
            Self::Destroyed => f.write_str("Destroyed"),
        }
    }
}

/// One version of a key's material. Rotation adds a version; the newest encrypts and
/// signs, older ones still decrypt and verify (down to the key's minimum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    /// 1, 2, 3, …
    pub number: u32,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Where the material is.
    pub material: Material,
    /// Whether the host's automatic rotation made it ([`RotationSchedule`]); `false` for
    /// the first version and for rotations someone asked for.
    pub automatic: bool,
}

/// Automatic rotation of a key's material: a new version every `period_days`, the next
/// one due at `next_at` (AWS KMS's `EnableKeyRotation`). The host's sweep rotates keys
/// that are enabled and due; a disabled key is rotated when it is enabled again and due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationSchedule {
    /// Days between rotations.
    pub period_days: u32,
    /// When the next rotation is due, Unix seconds.
    pub next_at: i64,
}

/// Everything known about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Identifier.
    pub id: KeyId,
    /// Kind of material.
    pub spec: KeySpec,
    /// Permitted usage (from the spec).
    pub usage: KeyUsage,
    /// Token-resident or wrapped.
    pub origin: Origin,
    /// Life-cycle state.
    pub state: KeyState,
    /// Free text.
    pub description: String,
    /// Tags by name; a policy sees them.
    pub tags: BTreeMap<String, String>,
    /// The policy the key is bound to, if any.
    pub policy: Option<Measurement>,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Oldest version that may still decrypt or verify.
    pub min_decrypt_version: u32,
    /// All versions, oldest first; the last one is current.
    pub versions: Vec<KeyVersion>,
    /// Whether its material may be released to an attested guest (sealed with HPKE) when
    /// its policy allows the `release` operation. Fixed at creation; never for
    /// token-resident keys.
    pub releasable: bool,
    /// How many changes the store has committed to this key (0 when created). A change
    /// decided on this record commits only while the stored key is still at this revision
    /// (compare-and-set), so that a concurrent change is never silently overwritten.
    pub revision: u64,
    /// The record's seal as the store holds it: an HMAC-SHA-384 tag by the token-held
    /// record key over the record's canonical encoding, revision included
    /// ([`crate::keys::RecordKey`]). The key service checks it whenever it reads the record
    /// and refuses a record whose seal does not match, or that has none, as
    /// `TamperDetected`: someone who can write the store but not use the token cannot make
    /// a record Kastell accepts. `None` for a record written without one (the store's own
    /// tests; rows from before seals, sealed once at the upgrade). A record the key service
    /// writes carries the seal of the record as the change stores it (for an update, at
    /// `revision + 1`).
    pub seal: Option<Vec<u8>>,
    /// Automatic rotation, when on.
    pub rotation: Option<RotationSchedule>,
    /// The key's AWS KMS key policy (the JSON document as given to `PutKeyPolicy` or
    /// `CreateKey`), validated when stored and sealed with the record (its SHA-384 is part
    /// of the sealed message). `None`: AWS's default key policy, which allows every
    /// principal of the account, and so adds nothing to the key's wasm policy.
    pub key_policy: Option<String>,
    /// The key's AWS KMS grants (`CreateGrant`), validated when created, sealed with the
    /// record (their SHA-384 is part of the sealed message) and evaluated with the key
    /// policy in the sandbox. Empty for most keys.
    pub grants: Vec<kastell_proto::aws::grant::Grant>,
    /// The imported material of an `external` key, once material was imported: sealed
    /// with the record, so that editing the store cannot revive expired material or make
    /// the key take other material.
    pub imported: Option<ImportedMaterial>,
    /// Every imported material of an `external` key, one per version that holds (or held)
    /// material and at most one pending rotation (AWS's `ListKeyRotations` rows of an
    /// imported key), sealed with the record. Empty for keys whose material was imported
    /// before schema v23 and not since (their one material is [`Self::imported`]) and for
    /// every other key.
    pub materials: Vec<KeyMaterial>,
}

/// What an `external` key knows of the material imported into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedMaterial {
    /// The material's id: the first 32 bytes of an HMAC-SHA-384 by the token-held record
    /// key over the key id and the material. A later import must give material with the
    /// same id (AWS: the same material); it is kept when the material is deleted.
    pub id: [u8; 32],
    /// When the material expires, Unix seconds (AWS's `ValidTo`); `None`: never, or no
    /// material held now.
    pub expires_at: Option<i64>,
}

/// One imported material of an `external` key (AWS's key material: `KeyMaterialId`,
/// `KeyMaterialDescription`, `ValidTo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// The material's id, as [`ImportedMaterial::id`].
    pub id: [u8; 32],
    /// The version the material is: `None` while it is pending rotation (imported with
    /// `NEW_KEY_MATERIAL`, made current by `RotateKeyOnDemand`).
    pub version: Option<u32>,
    /// The importer's description (AWS's `KeyMaterialDescription`).
    pub description: Option<String>,
    /// When the material expires, Unix seconds; `None`: never, or not held now.
    pub expires_at: Option<i64>,
    /// The material pending rotation, wrapped by the master key (its label, the bytes);
    /// `None` for a material that is a version (its version holds it).
    pub pending: Option<(String, Vec<u8>)>,
}

impl KeyRecord {
    /// The version new ciphertexts and signatures use.
    #[must_use]
    pub fn current(&self) -> Option<&KeyVersion> {
        self.versions.last()
    }

    /// Version `number`, if it exists.
    #[must_use]
    pub fn version(&self, number: u32) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.number == number)
    }
}

/// An alias row: the alias, the key it names, and its seal as the store holds it (an
/// HMAC-SHA-384 tag by the token-held record key over alias and key id, checked like a key
/// record's [`KeyRecord::seal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRow {
    /// The alias.
    pub alias: Alias,
    /// The key it names.
    pub key: KeyId,
    /// Its seal; `None` for a row written without one.
    pub seal: Option<Vec<u8>>,
}

/// An alias: `alias/<name>`, name of 1–128 characters from `A-Z a-z 0-9 / _ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Alias(String);

/// Why a text is not an alias.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AliasError {
    /// It does not start with `alias/`.
    #[error("an alias starts with `alias/`")]
    MissingPrefix,
    /// The name is empty or longer than 128 characters.
    #[error("an alias name has 1 to 128 characters")]
    Length,
    /// The name holds a character outside `A-Z a-z 0-9 / _ -`.
    #[error("an alias name holds only A-Z a-z 0-9 / _ -")]
    Character,
}

impl FromStr for Alias {
    type Err = AliasError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.strip_prefix("alias/").ok_or(AliasError::MissingPrefix)?;
        if name.is_empty() || name.len() > 128 {
            return Err(AliasError::Length);
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
        {
            return Err(AliasError::Character);
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_round_trip_and_reject_non_uuids() {
        let id = KeyId::random();
        assert_eq!(id.to_string().parse::<KeyId>(), Ok(id));
        assert!(
            "alias/x"
                .parse::<KeyId>()
                .unwrap_err()
                .to_string()
                .contains("not a key id")
        );
    }

    #[test]
    fn aliases_are_validated() {
        assert!("alias/payments/prod-1".parse::<Alias>().is_ok());
        assert_eq!("payments".parse::<Alias>(), Err(AliasError::MissingPrefix));
        assert_eq!("alias/".parse::<Alias>(), Err(AliasError::Length));
        assert_eq!("alias/a b".parse::<Alias>(), Err(AliasError::Character));
        let long = format!("alias/{}", "a".repeat(129));
        assert_eq!(long.parse::<Alias>(), Err(AliasError::Length));
    }

    #[test]
    fn only_the_versions_own_label_names_its_token_object() {
        let key = KeyId::random();
        let own = token_label(&key, 2);
        assert_eq!(own, format!("kastell-{key}-v2"));
        assert_eq!(Material::from_stored_label(&key, 2, own), Material::Token);
        for foreign in [
            "kastell-root-ca".to_owned(),
            "kastell-master".to_owned(),
            token_label(&key, 1),
            token_label(&KeyId::random(), 2),
            format!("{}-x", token_label(&key, 2)),
        ] {
            assert_eq!(
                Material::from_stored_label(&key, 2, foreign.clone()),
                Material::ForeignLabel(foreign)
            );
        }
    }

    #[test]
    fn a_key_versions_label_names_its_key_and_version_and_no_other_label_does() {
        let key = KeyId::random();
        assert_eq!(key_version_of_label(&token_label(&key, 7)), Some((key, 7)));
        for other in [
            "kastell-root-ca".to_owned(),
            "kastell-master".to_owned(),
            "kastell-record-mac".to_owned(),
            format!("{}-x", token_label(&key, 2)),
            format!("kastell-{key}-v02"),
            format!("kastell-{key}-v"),
        ] {
            assert_eq!(key_version_of_label(&other), None, "{other}");
        }
    }

    #[test]
    fn wrapped_material_debug_shows_no_bytes() {
        let material = Material::Wrapped {
            master: "m".into(),
            wrapped: vec![0xab; 40],
        };
        let shown = format!("{material:?}");
        assert!(
            shown.contains("len: 40") && !shown.contains("171"),
            "{shown}"
        );
    }
}

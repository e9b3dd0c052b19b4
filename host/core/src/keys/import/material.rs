//! The two steps that touch key material: making the import parameters (the wrapping key
//! on the token, the import token tagged by the record key) and importing (the token
//! checked, the material unwrapped with the wrapping key, checked against the key's spec
//! and the material imported before, wrapped by the master key at once). Material is held
//! in [`SecretBytes`] only (zeroized when dropped) and never logged.

use kastell_proto::{KeyId, KeySpec, KeyUsage, SecretBytes};

use super::parameters::{
    Holder, IMPORT_TOKEN_TTL, ImportParameters, ImportToken, WrappingAlgorithm, WrappingKeySpec,
    public_key_digest, tag_matches, wrapping_label,
};
use super::target::{Target, place};
use super::{
    Expiry, GET_PARAMETERS, IMPORT_MATERIAL, MaterialImport, form, listed, material_id_hex,
    rotation,
};
use crate::crypto::PreparedKey;
use crate::keys::KeyRecord;
use crate::keys::algorithms::kind_of;
use crate::keys::error::KeyError;
use crate::keys::service::{Caller, KeyService, now_ms};
use crate::token::TokenError;

/// Domain separation of material ids from every other use of the record key.
const MATERIAL_DOMAIN: &[u8] = b"kastell imported material id v1\0";
/// Length of the AES key of the RSA_AES_KEY_WRAP algorithms.
const AES_KEY_LEN: usize = 32;

/// `private` framed for the master key: its length (u16, big-endian), itself, zeros up to
/// a multiple of 8 bytes (a PKCS#11 token wraps only such lengths; a PKCS#8 key is not).
fn framed(private: &SecretBytes) -> SecretBytes {
    let bytes = private.expose();
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(bytes.len() + 10);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    out.resize(out.len().next_multiple_of(8), 0);
    SecretBytes::new(out)
}

/// The key [`framed`] framed, if the frame is whole.
fn unframed(framed: &SecretBytes) -> Option<SecretBytes> {
    let (len, rest) = framed.expose().split_first_chunk::<2>()?;
    let key = rest.get(..usize::from(u16::from_be_bytes(*len)))?;
    Some(SecretBytes::new(key.to_vec()))
}

/// Whether Kastell imports material for `spec`: AES-256, HMAC, RSA and EC keys, as AWS
/// does (AWS's import form: the bytes, or PKCS#8 DER; see [`super::form`]).
#[must_use]
pub fn importable(spec: KeySpec) -> bool {
    matches!(
        spec,
        KeySpec::Aes256
            | KeySpec::Hmac224
            | KeySpec::Hmac256
            | KeySpec::HmacSha384
            | KeySpec::Hmac512
            | KeySpec::Rsa2048
            | KeySpec::Rsa3072
            | KeySpec::Rsa4096
            | KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::EccSecgP256k1
    )
}

impl KeyService {
    /// The parameters to import material into `key` (AWS's `GetParametersForImport`): a
    /// new RSA wrapping key of `spec` (on the token when it holds RSA keys, otherwise
    /// wrapped by the master key inside the import token), its public key, and an import
    /// token for `algorithm` valid 24 hours. Audited.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`] (crypto officers only), [`KeyError::UnsupportedSpec`]
    /// for a key not of origin `external`, [`KeyError::InvalidState`] for a key pending
    /// deletion or destroyed (each audited), or the token's failure.
    pub fn parameters_for_import(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: WrappingAlgorithm,
        spec: WrappingKeySpec,
    ) -> Result<ImportParameters, KeyError> {
        self.parameters_for_import_at(caller, key, algorithm, spec, now_ms() / 1000)
    }

    /// [`KeyService::parameters_for_import`] as made at `now` (Unix seconds): the token is
    /// valid 24 hours from then. The host passes the current time (as to
    /// [`KeyService::destroy_due`]); a test passes an earlier one to get a token that
    /// expired.
    ///
    /// # Errors
    /// As [`KeyService::parameters_for_import`].
    pub fn parameters_for_import_at(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: WrappingAlgorithm,
        spec: WrappingKeySpec,
        now: i64,
    ) -> Result<ImportParameters, KeyError> {
        let extra = vec![
            (
                "kms:wrappingalgorithm".to_owned(),
                vec![algorithm.as_str().to_owned()],
            ),
            (
                "kms:wrappingkeyspec".to_owned(),
                vec![spec.as_str().to_owned()],
            ),
        ];
        let key = self.external_key(
            caller,
            (GET_PARAMETERS, "kms:GetParametersForImport"),
            key,
            &["enabled", "disabled", "pending-import"],
            extra,
        )?;
        let kind = spec.kind();
        let (holder, public_key) = if self.token.can_hold(kind, KeyUsage::EncryptDecrypt).is_ok() {
            let label = wrapping_label(&key.id, spec);
            if self.token.contains(&label)? {
                self.token.destroy(&label)?;
            }
            self.token
                .generate_resident(&label, kind, KeyUsage::EncryptDecrypt)?;
            let resident = self.token.resident(&label, kind)?;
            let public_key = resident
                .public_key_spki()
                .map_err(TokenError::from)?
                .to_vec();
            (Holder::Token, public_key)
        } else {
            let private = self.crypto.generate(kind).map_err(TokenError::from)?;
            let wrapped = self.token.wrap(&self.keys.master, &framed(&private))?;
            let prepared = self
                .crypto
                .prepare(kind, private)
                .map_err(TokenError::from)?;
            let public_key = prepared
                .public_key_spki()
                .map_err(TokenError::from)?
                .to_vec();
            (Holder::Wrapped(wrapped), public_key)
        };
        let valid_to = now + IMPORT_TOKEN_TTL;
        let token = ImportToken {
            key: key.id,
            algorithm,
            spec,
            valid_to,
            public_key_digest: public_key_digest(&public_key),
            holder,
        };
        let mut bytes = token.body();
        let tag = self
            .token
            .mac(&self.keys.record_mac, &ImportToken::tagged(&bytes))?;
        bytes.extend_from_slice(&tag);
        let reason = format!(
            "{} with a {} wrapping key ({}), valid 24 hours",
            algorithm.as_str(),
            spec.as_str(),
            if token.holder == Holder::Token {
                "token-resident"
            } else {
                "wrapped by the master key"
            }
        );
        self.record_event(
            &caller.id,
            GET_PARAMETERS,
            Some(key.id),
            crate::audit::Outcome::Allowed,
            reason,
        )?;
        Ok(ImportParameters {
            token: bytes,
            public_key,
            valid_to,
        })
    }

    /// Imports material into `key` (AWS's `ImportKeyMaterial`): the import token checked
    /// (made here, for this key, not expired), the material unwrapped with its wrapping
    /// key, checked against the key's spec and against the material imported before (the
    /// same material only), and wrapped by the master key at once; the key becomes enabled
    /// (a disabled key stays disabled). Returns the key and the material's id. Audited.
    ///
    /// # Errors
    /// [`KeyError::InvalidImportToken`], [`KeyError::ExpiredImportToken`],
    /// [`KeyError::InvalidCiphertext`] (the material does not unwrap),
    /// [`KeyError::IncorrectKeyMaterial`], and those of
    /// [`KeyService::parameters_for_import`]; each audited with its reason.
    pub fn import_key_material(
        &self,
        caller: &Caller,
        key: &str,
        import: &MaterialImport,
    ) -> Result<(KeyRecord, String), KeyError> {
        let model = match import.expiry {
            Expiry::Never => "KEY_MATERIAL_DOES_NOT_EXPIRE",
            Expiry::At(_) => "KEY_MATERIAL_EXPIRES",
        };
        let mut extra = vec![("kms:expirationmodel".to_owned(), vec![model.to_owned()])];
        if let Expiry::At(at) = import.expiry {
            extra.push(("kms:validto".to_owned(), vec![at.to_string()]));
        }
        let key = self.external_key(
            caller,
            (IMPORT_MATERIAL, "kms:ImportKeyMaterial"),
            key,
            &["enabled", "disabled", "pending-import"],
            extra,
        )?;
        let refuse =
            |error: KeyError| self.refuse_import(caller, IMPORT_MATERIAL, Some(key.id), error);
        let materials = listed(&key);
        let target = match self.import_target(&key, &materials, import) {
            Ok(target) => target,
            Err(error) => return refuse(error),
        };
        let token = match self.checked_token(&key.id, &import.token) {
            Ok(token) => token,
            Err(error) => return refuse(error),
        };
        if let Expiry::At(at) = import.expiry
            && at <= now_ms() / 1000
        {
            return refuse(KeyError::InvalidInput(format!(
                "ValidTo ({at}) is not in the future"
            )));
        }
        let material = match self.unwrap_import(&key.id, &token, &import.encrypted) {
            Ok(material) => material,
            Err(error) => return refuse(error),
        };
        let material = match self.host_material(key.spec, material) {
            Ok(material) => material,
            Err(why) => return refuse(KeyError::IncorrectKeyMaterial(why)),
        };
        let id = self.material_id(&key.id, &material)?;
        match target {
            Target::Same(expected) if expected != id => {
                return refuse(KeyError::IncorrectKeyMaterial(format!(
                    "key {} holds material {}: only the same material can be imported again \
                     (ImportType NEW_KEY_MATERIAL imports other material to rotate to)",
                    key.id,
                    material_id_hex(&expected)
                )));
            }
            Target::Pending => {
                if let Some(same) = materials.iter().find(|m| m.id == id) {
                    return refuse(KeyError::IncorrectKeyMaterial(format!(
                        "this material is key material {} of key {} already: new key \
                         material must differ from the key's",
                        material_id_hex(&same.id),
                        key.id
                    )));
                }
            }
            Target::Same(_) | Target::First => {}
        }
        let wrapped = self.token.wrap(&self.keys.master, &material)?;
        drop(material);
        let expires_at = match import.expiry {
            Expiry::Never => None,
            Expiry::At(at) => Some(at),
        };
        let mut next = key.clone();
        next.materials = materials;
        let placed = place(
            &mut next,
            target,
            id,
            (self.keys.master.clone(), wrapped),
            expires_at,
        );
        if let Some(description) = &import.description
            && let Some(listed) = next.materials.iter_mut().find(|m| m.id == id)
        {
            listed.description = Some(description.clone());
        }
        rotation::sync_imported(&mut next);
        let reason = format!(
            "material {} imported with {} ({}){placed}; {}",
            material_id_hex(&id),
            token.algorithm.as_str(),
            token.spec.as_str(),
            expires_at.map_or_else(
                || "does not expire".to_owned(),
                |at| format!("expires at {at}")
            )
        );
        self.commit_material(&caller.id, IMPORT_MATERIAL, &mut next, reason)?;
        Ok((next, material_id_hex(&id)))
    }

    /// The import token `bytes`, if this deployment made it for `key` and it has not
    /// expired.
    fn checked_token(&self, key: &KeyId, bytes: &[u8]) -> Result<ImportToken, KeyError> {
        let invalid = |why: &str| KeyError::InvalidImportToken(why.to_owned());
        let (body, tag, token) = ImportToken::split(bytes)
            .ok_or_else(|| invalid("the import token is not one GetParametersForImport made"))?;
        let expected = self
            .token
            .mac(&self.keys.record_mac, &ImportToken::tagged(body))?;
        if !tag_matches(&expected, tag) {
            return Err(invalid(
                "the import token was not made by this deployment, or was altered",
            ));
        }
        if token.key != *key {
            return Err(KeyError::InvalidImportToken(format!(
                "the import token was made for key {}, not {key}",
                token.key
            )));
        }
        if token.valid_to <= now_ms() / 1000 {
            return Err(KeyError::ExpiredImportToken(format!(
                "the import token expired at {} (tokens are valid 24 hours): call \
                 GetParametersForImport again",
                token.valid_to
            )));
        }
        Ok(token)
    }

    /// The material `encrypted` holds, unwrapped with the token's wrapping key.
    fn unwrap_import(
        &self,
        key: &KeyId,
        token: &ImportToken,
        encrypted: &[u8],
    ) -> Result<SecretBytes, KeyError> {
        let kind = token.spec.kind();
        let wrapping: Box<dyn PreparedKey> = match &token.holder {
            Holder::Token => {
                let label = wrapping_label(key, token.spec);
                let resident = self.token.resident(&label, kind)?;
                let current = resident.public_key_spki().map_err(TokenError::from);
                if current.map(public_key_digest).ok() != Some(token.public_key_digest) {
                    return Err(KeyError::InvalidImportToken(format!(
                        "the import token's {} wrapping key was replaced by a later \
                         GetParametersForImport: use the latest parameters",
                        token.spec.as_str()
                    )));
                }
                resident
            }
            Holder::Wrapped(wrapped) => {
                let framed = self.token.unwrap(&self.keys.master, wrapped)?;
                let private = unframed(&framed).ok_or_else(|| {
                    KeyError::InvalidImportToken(
                        "the import token's wrapping key is damaged".into(),
                    )
                })?;
                self.crypto
                    .prepare(kind, private)
                    .map_err(TokenError::from)?
            }
        };
        let modulus = token.spec.modulus_len();
        let failed = |what: &str| {
            tracing::debug!(key = %key, "imported material does not unwrap: {what}");
            KeyError::InvalidCiphertext
        };
        let oaep = token.algorithm.oaep();
        if !token.algorithm.aes_key_wrap() {
            return wrapping
                .decrypt(oaep, encrypted)
                .map_err(|_| failed("RSA-OAEP"));
        }
        if encrypted.len() <= modulus {
            return Err(failed("shorter than the RSA part"));
        }
        let (rsa_part, wrapped) = encrypted.split_at(modulus);
        let aes = wrapping
            .decrypt(oaep, rsa_part)
            .map_err(|_| failed("RSA-OAEP"))?;
        if aes.len() != AES_KEY_LEN {
            return Err(failed("the AES key is not 256 bits"));
        }
        self.crypto
            .aes256_kwp_unwrap(&aes, wrapped)
            .map_err(|_| failed("AES key wrap"))
    }

    /// `material` (AWS's import form) in the host form of a key of `spec`, or why it is
    /// not a key of `spec`: AES and HMAC keys of the spec's length, RSA keys of its size
    /// (PKCS#8 DER), EC keys on its curve (PKCS#8 DER, held as the private scalar) whose
    /// stated public key, if any, is the private key's.
    fn host_material(&self, spec: KeySpec, material: SecretBytes) -> Result<SecretBytes, String> {
        let kind = kind_of(spec);
        let (host, stated_point) = if form::is_ec(spec) {
            let ec = form::ec_import(spec, &material)?;
            (ec.scalar, ec.public_point)
        } else {
            (material, None)
        };
        if let Some(len) = kind.material_len()
            && host.len() != len
        {
            return Err(format!(
                "{spec} key material is {len} bytes, not {}",
                host.len()
            ));
        }
        let prepared = self
            .crypto
            .prepare(kind, SecretBytes::new(host.expose().to_vec()))
            .map_err(|_| {
                format!("the material is not a {spec} key (RSA and EC keys are PKCS#8 DER)")
            })?;
        if let Some(point) = stated_point {
            let spki = prepared
                .public_key_spki()
                .map_err(|_| format!("the material is not a {spec} key"))?;
            if !form::same_point(spki, &point) {
                return Err(format!(
                    "the {spec} key's stated public key is not its private key's"
                ));
            }
        }
        Ok(host)
    }

    /// The id of `material` in `key`: the first 32 bytes of the record key's HMAC over
    /// the key id and the material.
    fn material_id(&self, key: &KeyId, material: &SecretBytes) -> Result<[u8; 32], KeyError> {
        let mut message = Vec::with_capacity(MATERIAL_DOMAIN.len() + 16 + material.len());
        message.extend_from_slice(MATERIAL_DOMAIN);
        message.extend_from_slice(key.as_bytes());
        message.extend_from_slice(material.expose());
        let tag = self.token.mac(&self.keys.record_mac, &message);
        zeroize::Zeroize::zeroize(&mut message);
        let tag = tag?;
        let mut id = [0; 32];
        id.copy_from_slice(&tag[..32]);
        Ok(id)
    }
}

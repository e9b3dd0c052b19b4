//! A PKCS#11 token through `cryptoki`: SoftHSM2, Nitrokey HSM, Luna, ...
//!
//! One process-wide context per module (parallel `C_Initialize` crashes some modules), and
//! one session per token whose calls are serialised by a mutex (SoftHSM2 2.6 crashes under
//! concurrent load). Tokens are found by label, since slots are renumbered. Keys are named
//! by `CKA_LABEL`. ECDSA uses raw `CKM_ECDSA` over a digest computed by the host, because
//! SoftHSM2 lacks `CKM_ECDSA_SHA384` and its kin. Token-resident keys of the other key
//! specs (RSA, the other curves, HMAC sizes) are in `pkcs11/resident.rs`, what the token
//! must offer for each in `pkcs11/capability.rs`.

mod capability;
mod mechanisms;
mod resident;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use kastell_proto::KeyUsage;
use secrecy::SecretString;

use super::{GcmSealed, Token, TokenError, TokenKeyKind};
use crate::crypto::{CryptoError, GCM_NONCE_LEN, KeyKind, P384_SIGNATURE_LEN, PreparedKey};
use crate::secret::SecretBytes;

/// DER of the secp384r1 object identifier (1.3.132.0.34), for `CKA_EC_PARAMS`.
const SECP384R1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// How to reach a PKCS#11 token. `Debug` shows the PIN as `secrecy` redacts it.
#[derive(Debug)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN.
    pub pin: SecretString,
}

impl Pkcs11Config {
    /// Reads the PIN from `file` when given (first line), else from environment variable
    /// `env`. PINs never come from the command line.
    ///
    /// # Errors
    /// [`TokenError::Config`] when neither source yields a PIN.
    pub fn read_pin(file: Option<&Path>, env: &str) -> Result<SecretString, TokenError> {
        if let Some(file) = file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                TokenError::Config(format!("cannot read PIN file {}: {e}", file.display()))
            })?;
            let pin = text.lines().next().unwrap_or_default().trim().to_owned();
            if pin.is_empty() {
                return Err(TokenError::Config(format!(
                    "PIN file {} is empty",
                    file.display()
                )));
            }
            return Ok(SecretString::from(pin));
        }
        match std::env::var(env) {
            Ok(pin) if !pin.is_empty() => Ok(SecretString::from(pin)),
            _ => Err(TokenError::Config(format!(
                "no PIN: give a PIN file or set {env}"
            ))),
        }
    }
}

/// The process-wide context for `module`, initialised once.
fn context(module: &Path) -> Result<Pkcs11, TokenError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(ctx) = contexts.get(module) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        TokenError::Config(format!(
            "cannot load PKCS#11 module {}: {e}",
            module.display()
        ))
    })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    contexts.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// A logged-in PKCS#11 token.
pub struct Pkcs11Token {
    description: String,
    /// The module's context and the token's slot, for what the token offers.
    context: Pkcs11,
    slot: Slot,
    /// The one session, shared with the token-resident keys handed out.
    session: Arc<Mutex<Session>>,
    /// What the token answered [`Token::can_hold`] for a kind and usage (`None`: it can;
    /// else why not), asked once per process: the probes generate keys.
    holds: Mutex<HashMap<(KeyKind, KeyUsage), Option<String>>>,
}

/// The session, its calls serialised.
fn lock(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    // A session holds no invariant of ours; keep serving after a panic elsewhere.
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for Pkcs11Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Token")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// Maps the return values that mean "this ciphertext or wrapped key is not authentic" to
/// the opaque authentication failure. SoftHSM2 reports a failed GCM tag or RFC 5649
/// integrity check as `CKR_GENERAL_ERROR`, so that counts too on these two calls (the
/// only callers of this function).
fn auth_failure(err: CkError) -> TokenError {
    use cryptoki::context::Function;
    match err {
        CkError::Pkcs11(RvError::GeneralError, Function::UnwrapKey | Function::Decrypt) => {
            TokenError::Crypto(CryptoError::Authentication)
        }
        CkError::Pkcs11(
            RvError::EncryptedDataInvalid
            | RvError::EncryptedDataLenRange
            | RvError::WrappedKeyInvalid
            | RvError::WrappedKeyLenRange
            | RvError::DataLenRange,
            _,
        ) => TokenError::Crypto(CryptoError::Authentication),
        other => TokenError::Pkcs11(other),
    }
}

impl Pkcs11Token {
    /// Loads the module, finds the token by label, opens a session and logs in.
    ///
    /// PKCS#11 login state belongs to the process: when another session of this process is
    /// already logged in to the token, the module accepts the new session without checking
    /// the PIN again. Open each token once per process.
    ///
    /// # Errors
    /// [`TokenError::Config`] for a module that does not load,
    /// [`TokenError::TokenNotFound`], [`TokenError::Pkcs11`] (e.g. a wrong PIN).
    pub fn open(config: &Pkcs11Config) -> Result<Self, TokenError> {
        let ctx = context(&config.module)?;
        let mut found = None;
        for slot in ctx.get_slots_with_token()? {
            let info = ctx.get_token_info(slot)?;
            if info.label().trim_end() == config.token_label {
                found = Some((slot, info));
                break;
            }
        }
        let (slot, info) =
            found.ok_or_else(|| TokenError::TokenNotFound(config.token_label.clone()))?;
        let session = ctx.open_rw_session(slot)?;
        match session.login(UserType::User, Some(&config.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(err) => return Err(err.into()),
        }
        Ok(Self {
            description: format!(
                "PKCS#11 token `{}` ({} {}) via {}",
                config.token_label,
                info.manufacturer_id().trim_end(),
                info.model().trim_end(),
                config.module.display()
            ),
            context: ctx,
            slot,
            session: Arc::new(Mutex::new(session)),
            holds: Mutex::default(),
        })
    }

    fn session(&self) -> MutexGuard<'_, Session> {
        lock(&self.session)
    }

    fn find(
        session: &Session,
        label: &str,
        class: ObjectClass,
    ) -> Result<Option<ObjectHandle>, TokenError> {
        let found = session.find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?;
        Ok(found.first().copied())
    }

    /// The key labelled `label` of `kind` (the private half for a key pair).
    fn key(session: &Session, label: &str, kind: TokenKeyKind) -> Result<ObjectHandle, TokenError> {
        let class = match kind {
            TokenKeyKind::EcP384 | TokenKeyKind::EcdhP384 => ObjectClass::PRIVATE_KEY,
            TokenKeyKind::Aes256 | TokenKeyKind::HmacSha384 => ObjectClass::SECRET_KEY,
        };
        if let Some(handle) = Self::find(session, label, class)? {
            let expected = match kind {
                TokenKeyKind::Aes256 => KeyType::AES,
                TokenKeyKind::EcP384 | TokenKeyKind::EcdhP384 => KeyType::EC,
                TokenKeyKind::HmacSha384 => KeyType::GENERIC_SECRET,
            };
            // A P-384 pair is of one use: a signing key signs, a key-agreement key derives.
            let (types, allowed): (&[AttributeType], fn(&Attribute) -> bool) = match kind {
                TokenKeyKind::EcP384 => (&[AttributeType::KeyType, AttributeType::Sign], |a| {
                    matches!(a, Attribute::Sign(true))
                }),
                TokenKeyKind::EcdhP384 => (&[AttributeType::KeyType, AttributeType::Derive], |a| {
                    matches!(a, Attribute::Derive(true))
                }),
                TokenKeyKind::Aes256 | TokenKeyKind::HmacSha384 => {
                    (&[AttributeType::KeyType], |_| true)
                }
            };
            let actual = session.get_attributes(handle, types)?;
            if actual.iter().any(allowed)
                && matches!(actual.first(), Some(Attribute::KeyType(t)) if *t == expected)
            {
                return Ok(handle);
            }
        } else if !Self::any(session, label)? {
            return Err(TokenError::KeyNotFound(label.to_owned()));
        }
        Err(TokenError::WrongKind {
            label: label.to_owned(),
            expected: kind,
        })
    }

    fn any(session: &Session, label: &str) -> Result<bool, TokenError> {
        Ok(!session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])?
            .is_empty())
    }

    /// A temporary session object holding `bytes`, extractable so it can be wrapped.
    fn session_secret(session: &Session, bytes: &SecretBytes) -> Result<ObjectHandle, TokenError> {
        Ok(session.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Value(bytes.expose().to_vec()),
        ])?)
    }
}

impl Token for Pkcs11Token {
    fn description(&self) -> String {
        self.description.clone()
    }

    fn generate(&self, label: &str, kind: TokenKeyKind) -> Result<(), TokenError> {
        let session = self.session();
        if Self::any(&session, label)? {
            return Err(TokenError::KeyExists(label.to_owned()));
        }
        let name = Attribute::Label(label.as_bytes().to_vec());
        let resident = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
        ];
        match kind {
            TokenKeyKind::Aes256 => {
                let mut template = vec![
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Wrap(true),
                    Attribute::Unwrap(true),
                    name,
                ];
                template.extend(resident);
                session.generate_key(&Mechanism::AesKeyGen, &template)?;
            }
            TokenKeyKind::HmacSha384 => {
                let mut template = vec![
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::ValueLen(48.into()),
                    Attribute::Sign(true),
                    Attribute::Verify(true),
                    name,
                ];
                template.extend(resident);
                session.generate_key(&Mechanism::GenericSecretKeyGen, &template)?;
            }
            TokenKeyKind::EcP384 => {
                let public = [
                    Attribute::Token(true),
                    Attribute::EcParams(SECP384R1.to_vec()),
                    Attribute::Verify(true),
                    name.clone(),
                ];
                let mut private = vec![Attribute::Sign(true), name];
                private.extend(resident);
                session.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)?;
            }
            TokenKeyKind::EcdhP384 => {
                // CKA_DERIVE only, sensitive, never extractable: ECDH1_DERIVE is its one
                // operation.
                capability::generate(&session, Some(label), KeyKind::P384, KeyUsage::KeyAgreement)?;
            }
        }
        Ok(())
    }

    fn can_hold(&self, kind: KeyKind, usage: KeyUsage) -> Result<(), TokenError> {
        let known = self
            .holds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(kind, usage))
            .cloned();
        let answer = match known {
            Some(answer) => answer,
            None => {
                let answer = match capability::can_hold(
                    &self.context,
                    self.slot,
                    &self.session(),
                    kind,
                    usage,
                ) {
                    Ok(()) => None,
                    Err(TokenError::CannotHold { why, .. }) => Some(why),
                    Err(other) => return Err(other),
                };
                self.holds
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert((kind, usage), answer.clone());
                answer
            }
        };
        answer.map_or(Ok(()), |why| {
            Err(TokenError::CannotHold { kind, usage, why })
        })
    }

    fn generate_resident(
        &self,
        label: &str,
        kind: KeyKind,
        usage: KeyUsage,
    ) -> Result<(), TokenError> {
        let session = self.session();
        if Self::any(&session, label)? {
            return Err(TokenError::KeyExists(label.to_owned()));
        }
        capability::generate(&session, Some(label), kind, usage).map(drop)
    }

    fn resident(&self, label: &str, kind: KeyKind) -> Result<Box<dyn PreparedKey>, TokenError> {
        Ok(Box::new(resident::Resident::new(
            Arc::clone(&self.session),
            label,
            kind,
        )))
    }

    fn contains(&self, label: &str) -> Result<bool, TokenError> {
        Self::any(&self.session(), label)
    }

    fn destroy(&self, label: &str) -> Result<(), TokenError> {
        let session = self.session();
        let objects = session.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])?;
        if objects.is_empty() {
            return Err(TokenError::KeyNotFound(label.to_owned()));
        }
        for object in objects {
            session.destroy_object(object)?;
        }
        Ok(())
    }

    fn wrap(&self, master: &str, key: &SecretBytes) -> Result<Vec<u8>, TokenError> {
        // SoftHSM2 2.6 returns RFC 5649 padding bytes as part of the unwrapped key, so only
        // lengths that need no padding round-trip. Kastell's keys are 32 or 48 bytes.
        if key.is_empty() || !key.len().is_multiple_of(8) {
            return Err(TokenError::Crypto(CryptoError::InvalidInput(
                "PKCS#11 wrapping takes keys whose length is a multiple of 8 bytes",
            )));
        }
        let session = self.session();
        let kek = Self::key(&session, master, TokenKeyKind::Aes256)?;
        let temporary = Self::session_secret(&session, key)?;
        let wrapped = session.wrap_key(&Mechanism::AesKeyWrapPad, kek, temporary);
        session.destroy_object(temporary)?;
        Ok(wrapped?)
    }

    fn unwrap(&self, master: &str, wrapped: &[u8]) -> Result<SecretBytes, TokenError> {
        let session = self.session();
        let kek = Self::key(&session, master, TokenKeyKind::Aes256)?;
        let temporary = session
            .unwrap_key(
                &Mechanism::AesKeyWrapPad,
                kek,
                wrapped,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::Token(false),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            )
            .map_err(auth_failure)?;
        let value = session.get_attributes(temporary, &[AttributeType::Value]);
        session.destroy_object(temporary)?;
        match value?.into_iter().next() {
            Some(Attribute::Value(bytes)) => Ok(SecretBytes::new(bytes)),
            _ => Err(TokenError::Malformed("unwrapped key")),
        }
    }

    fn encrypt(&self, label: &str, aad: &[u8], plaintext: &[u8]) -> Result<GcmSealed, TokenError> {
        let session = self.session();
        let key = Self::key(&session, label, TokenKeyKind::Aes256)?;
        let mut nonce = [0u8; GCM_NONCE_LEN];
        session.generate_random_slice(&mut nonce)?;
        let mut iv = nonce;
        let params = GcmParams::new(&mut iv, aad, 128.into())?;
        let ciphertext = session.encrypt(&Mechanism::AesGcm(params), key, plaintext)?;
        Ok(GcmSealed { nonce, ciphertext })
    }

    fn decrypt(
        &self,
        label: &str,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, TokenError> {
        let session = self.session();
        let key = Self::key(&session, label, TokenKeyKind::Aes256)?;
        let mut iv = *nonce;
        let params = GcmParams::new(&mut iv, aad, 128.into())?;
        session
            .decrypt(&Mechanism::AesGcm(params), key, ciphertext)
            .map(SecretBytes::new)
            .map_err(auth_failure)
    }

    fn sign_digest(&self, label: &str, digest: &[u8; 48]) -> Result<Vec<u8>, TokenError> {
        let session = self.session();
        let key = Self::key(&session, label, TokenKeyKind::EcP384)?;
        let signature = session.sign(&Mechanism::Ecdsa, key, digest)?;
        if signature.len() != P384_SIGNATURE_LEN {
            return Err(TokenError::Malformed("ECDSA signature"));
        }
        Ok(signature)
    }

    fn public_key(&self, label: &str) -> Result<Vec<u8>, TokenError> {
        let session = self.session();
        let Some(handle) = Self::find(&session, label, ObjectClass::PUBLIC_KEY)? else {
            Self::key(&session, label, TokenKeyKind::EcP384)?;
            return Err(TokenError::KeyNotFound(label.to_owned()));
        };
        let point = match session
            .get_attributes(handle, &[AttributeType::EcPoint])?
            .into_iter()
            .next()
        {
            Some(Attribute::EcPoint(point)) => point,
            _ => return Err(TokenError::Malformed("EC point")),
        };
        // CKA_EC_POINT is a DER OCTET STRING around the SEC1 point; some modules omit it.
        match point.as_slice() {
            [0x04, 0x61, rest @ ..] if rest.len() == 0x61 => Ok(rest.to_vec()),
            [0x04, ..] if point.len() == 97 => Ok(point),
            _ => Err(TokenError::Malformed("EC point")),
        }
    }

    fn mac(&self, label: &str, message: &[u8]) -> Result<[u8; 48], TokenError> {
        let session = self.session();
        let key = Self::key(&session, label, TokenKeyKind::HmacSha384)?;
        let mac = session.sign(&Mechanism::Sha384Hmac, key, message)?;
        mac.try_into().map_err(|_| TokenError::Malformed("HMAC"))
    }

    fn ecdh_p384(&self, label: &str, peer_sec1: &[u8]) -> Result<SecretBytes, TokenError> {
        {
            let session = self.session();
            Self::key(&session, label, TokenKeyKind::EcdhP384)?;
        }
        let peer = p384::PublicKey::from_sec1_bytes(peer_sec1)
            .ok()
            .and_then(|key| {
                use p384::pkcs8::EncodePublicKey as _;
                key.to_public_key_der().ok()
            })
            .ok_or(TokenError::Crypto(CryptoError::InvalidInput(
                "peer public key: not a valid point on P-384",
            )))?;
        // CKM_ECDH1_DERIVE (no KDF) into an extractable session secret whose CKA_VALUE is
        // read and the object destroyed: `resident.rs`'s key agreement.
        resident::Resident::new(Arc::clone(&self.session), label, KeyKind::P384)
            .derive_shared_secret(peer.as_bytes())
            .map_err(TokenError::Crypto)
    }

    fn random(&self, out: &mut [u8]) -> Result<(), TokenError> {
        Ok(self.session().generate_random_slice(out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configs_debug_never_shows_the_pin() {
        let config = Pkcs11Config {
            module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
            token_label: "kastell".into(),
            pin: SecretString::from("73915286"),
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("73915286"), "{shown}");
        assert!(shown.contains("token_label"), "{shown}");
    }
}

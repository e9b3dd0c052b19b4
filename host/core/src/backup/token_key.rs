//! The token backup key: a P-384 key-agreement key pair resident on the deployment's token
//! (PKCS#11: generated on the token with `CKA_DERIVE`, sensitive and never extractable;
//! soft token: sealed in its file as its other keys are) that backups can be sealed to
//! besides, or instead of, escrow holders' keys. Opening such a backup needs the same
//! token: HPKE's Diffie-Hellman runs on it ([`crate::token::Token::ecdh_p384`]) and the
//! rest of the decapsulation on the host ([`crate::crypto::hpke::open_with_dh`]).

use kastell_attest::hpke::Sealed;

use super::format::{HEADER_LEN, HPKE_INFO, SealedKey};
use super::{BackupError, Manifest, Recipient};
use crate::audit::Outcome;
use crate::crypto::CryptoError;
use crate::keys::KeyService;
use crate::secret::SecretBytes;
use crate::token::{Token, TokenError, TokenKeyKind};

/// The token label of the token backup key.
pub const TOKEN_BACKUP_KEY: &str = "kastell-backup-key";
/// The audit operation of the token backup key's creation.
pub const CREATE_BACKUP_KEY_OPERATION: &str = "create-backup-key";

/// The public half of a token backup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBackupKey {
    sec1: Vec<u8>,
    token: String,
}

impl TokenBackupKey {
    /// The backup key on `token`.
    ///
    /// # Errors
    /// [`BackupError::NoBackupKey`] when the token holds none; the token's failure.
    pub fn of(token: &dyn Token) -> Result<Self, BackupError> {
        match token.public_key(TOKEN_BACKUP_KEY) {
            Ok(sec1) => Ok(Self {
                sec1,
                token: token.description(),
            }),
            Err(TokenError::KeyNotFound(_)) => Err(BackupError::NoBackupKey(token.description())),
            Err(other) => Err(other.into()),
        }
    }

    /// Its fingerprint ([`super::fingerprint`]).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        super::fingerprint(&self.sec1)
    }

    /// Its uncompressed SEC1 point.
    #[must_use]
    pub fn sec1(&self) -> &[u8] {
        &self.sec1
    }

    /// Its public key as SPKI PEM.
    ///
    /// # Errors
    /// [`BackupError::Token`] when the token's point is malformed.
    pub fn public_pem(&self) -> Result<String, BackupError> {
        super::create::public_pem(&self.sec1)
    }

    /// The token it is on, as the token describes itself.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The recipient a backup is sealed to for it.
    ///
    /// # Errors
    /// [`BackupError::BadKey`] when the token's point is not a P-384 public key.
    pub fn recipient(&self) -> Result<Recipient, BackupError> {
        Recipient::on_token(&self.sec1, &self.token)
    }
}

/// Creates the token backup key on `service`'s token, audited `create-backup-key` as
/// `principal` (a failure is recorded denied).
///
/// # Errors
/// [`BackupError::BackupKeyExists`] when the token holds one already; the token's failure.
pub fn create_token_key(
    service: &KeyService,
    principal: &str,
) -> Result<TokenBackupKey, BackupError> {
    let token = service.token();
    let made = match token.generate(TOKEN_BACKUP_KEY, TokenKeyKind::EcdhP384) {
        Ok(()) => TokenBackupKey::of(token.as_ref()),
        Err(TokenError::KeyExists(_)) => Err(BackupError::BackupKeyExists(token.description())),
        Err(other) => Err(other.into()),
    };
    let (outcome, reason) = match &made {
        Ok(key) => (
            Outcome::Allowed,
            format!(
                "token backup key {} created on {}",
                key.fingerprint(),
                key.token
            ),
        ),
        Err(err) => (Outcome::Denied, format!("token backup key: {err}")),
    };
    service
        .record_event(
            principal,
            CREATE_BACKUP_KEY_OPERATION,
            None,
            outcome,
            reason,
        )
        .map_err(|e| BackupError::Deployment(e.to_string()))?;
    made
}

/// The content key sealed to the backup key of `token`: HPKE's DH on the token, the rest
/// on the host.
pub(super) fn open_key(
    token: &dyn Token,
    sealed: &[SealedKey],
    header: &[u8; HEADER_LEN],
    manifest: &Manifest,
) -> Result<SecretBytes, BackupError> {
    let sealed_to = manifest.recipients.join(", ");
    let key = match TokenBackupKey::of(token) {
        Ok(key) => key,
        Err(BackupError::NoBackupKey(token)) => {
            return Err(BackupError::NoRecipientKey {
                holder: format!("{token} holds no backup key (`{TOKEN_BACKUP_KEY}`) and"),
                sealed_to,
            });
        }
        Err(other) => return Err(other),
    };
    let wrong = || BackupError::NoRecipientKey {
        holder: format!("the backup key {} of {}", key.fingerprint(), key.token),
        sealed_to: sealed_to.clone(),
    };
    let mine: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&key.sec1).into();
    let entry = sealed
        .iter()
        .find(|s| s.fingerprint == mine)
        .ok_or_else(wrong)?;
    let dh = match token.ecdh_p384(TOKEN_BACKUP_KEY, &entry.enc) {
        Ok(dh) => dh,
        // The token refused `enc` as a point: not an entry this key can open.
        Err(TokenError::Crypto(CryptoError::InvalidInput(_))) => return Err(wrong()),
        Err(other) => return Err(other.into()),
    };
    let message = Sealed {
        encapsulated_key: entry.enc.clone(),
        ciphertext: entry.sealed.clone(),
    };
    crate::crypto::hpke::open_with_dh(&dh, &key.sec1, HPKE_INFO, header, &message)
        .map_err(|_| wrong())
}

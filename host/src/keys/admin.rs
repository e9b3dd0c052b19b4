//! Administrative operations (crypto-officer only): rotate, enable, disable.

use super::service::{KeyService, Record, now_ms};
use super::{Caller, KeyError, KeyRecord, KeyState};
use crate::audit::Outcome;
use crate::sandbox::{Operation, Role};

impl KeyService {
    /// Resolves `key` for an administrative `operation`, refusing non-officers.
    fn administer(
        &self,
        caller: &Caller,
        key: &str,
        operation: Operation,
    ) -> Result<KeyRecord, KeyError> {
        let key = self.resolve_for(caller, operation, key)?;
        if !caller.roles.contains(&Role::CryptoOfficer) {
            let record = Record {
                caller,
                operation,
                key: Some(&key),
                version: None,
                context: None,
            };
            return self.refuse(
                &record,
                KeyError::AccessDenied,
                "caller lacks the crypto-officer role".into(),
            );
        }
        Ok(key)
    }

    /// Adds a new version, which from now on encrypts and signs; older versions still
    /// decrypt and verify down to the minimum decryption version.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidState`] for a key that is not
    /// enabled or disabled, or an internal failure.
    pub fn rotate(&self, caller: &Caller, key: &str) -> Result<KeyRecord, KeyError> {
        let mut key = self.administer(caller, key, Operation::RotateKey)?;
        let number = key.current().map_or(1, |v| v.number + 1);
        let record = Record {
            caller,
            operation: Operation::RotateKey,
            key: Some(&key),
            version: Some(number),
            context: None,
        };
        if !matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
            let why = format!("cannot rotate a key that is {:?}", key.state);
            return self.refuse(&record, KeyError::InvalidState(why.clone()), why);
        }
        let version = self.new_version(&key, number, now_ms() / 1000)?;
        self.store.add_version(&key.id, &version)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        key.versions.push(version);
        Ok(key)
    }

    /// Enables (`true`) or disables (`false`) a key.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidState`] for a key pending deletion or
    /// destroyed, or an internal failure.
    pub fn set_enabled(
        &self,
        caller: &Caller,
        key: &str,
        enabled: bool,
    ) -> Result<KeyRecord, KeyError> {
        let operation = if enabled {
            Operation::EnableKey
        } else {
            Operation::DisableKey
        };
        let mut key = self.administer(caller, key, operation)?;
        if !matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
            let record = Record {
                caller,
                operation,
                key: Some(&key),
                version: None,
                context: None,
            };
            let why = format!("cannot change a key that is {:?}", key.state);
            return self.refuse(&record, KeyError::InvalidState(why.clone()), why);
        }
        key.state = if enabled {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        };
        self.store.update_key(&key)?;
        let record = Record {
            caller,
            operation,
            key: Some(&key),
            version: None,
            context: None,
        };
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(key)
    }
}

//! Aliases (crypto-officer to change, any role to list): `alias/<name>` naming one key.
//! `set_alias` creates or re-points (the native API); `create_alias`, `update_alias` and
//! `delete_alias` are AWS KMS's three, each refusing what AWS refuses. Every change is
//! audited as `update-alias`, in the same transaction, and compares the alias as read
//! (a concurrent change is refused as `Conflict`, never overwritten).

use kastell_proto::{KeyId, KeySpec, KeyUsage, Operation, Role};

use super::audited::Record;
use super::service::KeyService;
use super::{Alias, Caller, KeyError, KeyRecord, KeyState};
use crate::audit::Outcome;
use crate::store::Change;

/// The kind of key an alias names, for AWS's rule that `UpdateAlias` keeps it.
fn kind(spec: KeySpec, usage: KeyUsage) -> &'static str {
    if spec.is_asymmetric() {
        "asymmetric"
    } else if usage == KeyUsage::GenerateVerifyMac {
        "HMAC"
    } else {
        "symmetric"
    }
}

impl KeyService {
    /// Points `alias` at `key` (creating or re-pointing it).
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a malformed alias, [`KeyError::AccessDenied`],
    /// [`KeyError::NotFound`].
    pub fn set_alias(&self, caller: &Caller, alias: &str, key: &str) -> Result<(), KeyError> {
        let parsed = parse(alias)?;
        let operation = Operation::UpdateAlias;
        let key = self.administer(caller, key, operation)?;
        let record = Record::on(caller, operation, Some(&key));
        let row = self.alias_row(&parsed, &key.id)?;
        self.commit(
            Change::SetAlias(&row),
            &record,
            format!("{alias} -> {}", key.id),
        )
    }

    /// Creates `alias` naming `key` (AWS's `CreateAlias`).
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a malformed alias, [`KeyError::AlreadyExists`] when
    /// it names a key already, [`KeyError::InvalidState`] for a key pending deletion
    /// (audited), [`KeyError::AccessDenied`], [`KeyError::NotFound`].
    pub fn create_alias(&self, caller: &Caller, alias: &str, key: &str) -> Result<KeyId, KeyError> {
        let parsed = parse(alias)?;
        let operation = Operation::UpdateAlias;
        let key = self.administer(caller, key, operation)?;
        let record = Record::on(caller, operation, Some(&key));
        self.may_be_named(&record, &key)?;
        let row = self.alias_row(&parsed, &key.id)?;
        self.commit(
            Change::CreateAlias(&row),
            &record,
            format!("{alias} -> {} (created)", key.id),
        )?;
        Ok(key.id)
    }

    /// Points the existing `alias` at `key` (AWS's `UpdateAlias`): `key` must be of the
    /// same kind (symmetric, asymmetric or HMAC) and usage as the key the alias names now,
    /// so that code using the alias keeps working.
    ///
    /// # Errors
    /// [`KeyError::NotFound`] for an alias that does not exist or a key that does not,
    /// [`KeyError::InvalidInput`] for a malformed alias or a key of another kind or usage,
    /// [`KeyError::InvalidState`] for a key pending deletion (each audited),
    /// [`KeyError::Conflict`] when the alias changed meanwhile, [`KeyError::AccessDenied`].
    pub fn update_alias(&self, caller: &Caller, alias: &str, key: &str) -> Result<KeyId, KeyError> {
        let parsed = parse(alias)?;
        let operation = Operation::UpdateAlias;
        let key = self.administer(caller, key, operation)?;
        let record = Record::on(caller, operation, Some(&key));
        let Some(from) = self.stored_alias(&parsed)? else {
            let why = format!("no alias {alias}");
            return self.refuse(&record, KeyError::NotFound(alias.to_owned()), why);
        };
        self.may_be_named(&record, &key)?;
        if let Some(current) = self.stored_key(&from)? {
            let (was, is) = (kind(current.spec, current.usage), kind(key.spec, key.usage));
            if was != is || current.usage != key.usage {
                let why = format!(
                    "{alias} names a {was} {} key; it can be pointed only at another key of that \
                     kind and usage, not at a {is} {} key (delete the alias and create it \
                     again)",
                    current.usage, key.usage
                );
                return self.refuse(&record, KeyError::InvalidInput(why.clone()), why);
            }
        }
        let row = self.alias_row(&parsed, &key.id)?;
        self.commit(
            Change::UpdateAlias {
                row: &row,
                from: &from,
            },
            &record,
            format!("{alias} -> {} (was {from})", key.id),
        )?;
        Ok(key.id)
    }

    /// Deletes `alias` (AWS's `DeleteAlias`); returns the key it named.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a malformed alias, [`KeyError::NotFound`] when it does
    /// not exist, [`KeyError::AccessDenied`] (each audited), [`KeyError::Conflict`] when
    /// it changed meanwhile.
    pub fn delete_alias(&self, caller: &Caller, alias: &str) -> Result<KeyId, KeyError> {
        let parsed = parse(alias)?;
        let operation = Operation::UpdateAlias;
        let named = self.stored_alias(&parsed)?;
        let key = named.map(|id| self.stored_key(&id)).transpose()?.flatten();
        let record = Record::on(caller, operation, key.as_ref());
        if !caller.roles.contains(&Role::CryptoOfficer) {
            return self.refuse_role(&record, Role::CryptoOfficer);
        }
        let Some(id) = named else {
            let why = format!("no alias {alias}");
            return self.refuse(&record, KeyError::NotFound(alias.to_owned()), why);
        };
        self.commit(
            Change::DeleteAlias {
                alias: &parsed,
                key: &id,
            },
            &record,
            format!("{alias} deleted (named {id})"),
        )?;
        Ok(id)
    }

    /// Up to `limit` aliases ordered by name, after `after`, with the key each names; of
    /// `key` only when given (any role; audited once per page as `describe-key`).
    ///
    /// # Errors
    /// [`KeyError::NotFound`] for an unknown `key`, [`KeyError::AccessDenied`],
    /// [`KeyError::TamperDetected`] for an alias row whose seal does not match, or an
    /// internal failure.
    pub fn list_aliases(
        &self,
        caller: &Caller,
        key: Option<&str>,
        after: Option<&Alias>,
        limit: u32,
    ) -> Result<Vec<(Alias, KeyId)>, KeyError> {
        let operation = Operation::DescribeKey;
        let key = key
            .map(|key| self.resolve_for(caller, operation, key))
            .transpose()?;
        let record = Record::on(caller, operation, key.as_ref());
        self.may_describe(&record)?;
        let limit_len = usize::try_from(limit).unwrap_or(usize::MAX);
        let page: Vec<(Alias, KeyId)> = match &key {
            Some(key) => self
                .stored_aliases(&key.id)?
                .into_iter()
                .filter(|alias| after.is_none_or(|after| alias > after))
                .take(limit_len)
                .map(|alias| (alias, key.id))
                .collect(),
            None => self
                .store
                .list_aliases(after, limit)?
                .into_iter()
                .map(|row| {
                    let alias = row.alias.clone();
                    self.checked_alias(row).map(|id| (alias, id))
                })
                .collect::<Result<_, _>>()?,
        };
        self.audit(
            &record,
            Outcome::Allowed,
            format!("listed {} aliases", page.len()),
        )?;
        Ok(page)
    }

    /// Refuses (audited) to name a key pending deletion or destroyed.
    fn may_be_named(&self, record: &Record<'_>, key: &KeyRecord) -> Result<(), KeyError> {
        if matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
            return Ok(());
        }
        self.refuse_state(
            record,
            format!("an alias cannot name a key that is {:?}", key.state),
        )
    }
}

/// `alias` parsed, or why not.
fn parse(alias: &str) -> Result<Alias, KeyError> {
    alias
        .parse()
        .map_err(|e| KeyError::InvalidInput(format!("{alias}: {e}")))
}

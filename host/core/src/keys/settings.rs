//! Deployment settings in the audit trail: a setting that changes what principals may do
//! (`[aws] separation_of_duties`) is recorded when it differs from its last record, so the
//! trail shows when it was turned off and on. `kastell serve` calls it at start-up.

use crate::audit::{AuditEntry, Outcome, SETTING_OPERATION};

use super::destruction::SYSTEM_PRINCIPAL;
use super::service::{KeyError, KeyService};

impl KeyService {
    /// Records `name = value` (operation `setting`, principal `kastell`) unless the trail's
    /// last record of `name` has the same value, or it has none and `value` is `default`.
    /// The value recorded before (or `default`) when it recorded; `None` when unchanged.
    ///
    /// # Errors
    /// The store.
    pub fn record_setting(
        &self,
        name: &str,
        value: &str,
        default: &str,
    ) -> Result<Option<String>, KeyError> {
        let prefix = format!("{name} = ");
        let last = self.store.last_setting_record(&prefix)?;
        let previous = last
            .as_ref()
            .and_then(|record| record.entry.reason.strip_prefix(&prefix))
            .map(|rest| rest.split(' ').next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| default.to_owned());
        if previous == value {
            return Ok(None);
        }
        self.record_entry(AuditEntry::event(
            SYSTEM_PRINCIPAL,
            SETTING_OPERATION,
            None,
            Outcome::Allowed,
            format!("{name} = {value} (was {previous})"),
        ))?;
        Ok(Some(previous))
    }
}

//! Who acts: roles.

use crate::names::vocabulary;

vocabulary! {
    /// A principal's role.
    pub enum Role as "role" {
        /// Administers keys, policies and users; cannot use keys.
        CryptoOfficer = "crypto-officer",
        /// Uses keys; cannot administer them.
        CryptoUser = "crypto-user",
        /// Reads and verifies the audit trail.
        Auditor = "auditor",
    }
}

//! The configuration file, `kastell.toml`: where the deployment lives, which token holds
//! its keys, and the limits it runs with. Every key is optional; the environment overrides
//! the file, and command-line flags override both. Unknown keys are errors, so a typo never
//! silently falls back to a default.
//!
//! ```toml
//! data_dir = "/var/lib/kastell"
//!
//! [token]                      # omit for the built-in soft token in data_dir
//! pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
//! label = "kastell"
//! secret_file = "/etc/kastell/pin"   # PIN or soft-token passphrase, first line
//!
//! [store]                      # omit for the SQLite file in data_dir
//! url = "postgres://kastell@db.example:5432/kastell?sslmode=require"
//! password_file = "/etc/kastell/db-password"   # or KASTELL_STORE_PASSWORD; never in url
//! ca_file = "/etc/kastell/db-ca.pem"   # the database's TLS anchors (default: system roots)
//! max_connections = 16         # the pool's size
//! change_check_ms = 1000       # how often other hosts' changes are looked for (see below)
//!
//! [audit]
//! checkpoint_every = 1000
//!
//! [server]                     # `kastell serve`
//! listen = "127.0.0.1:8443"
//! names = ["localhost", "127.0.0.1"]   # DNS names and IP addresses in its certificate
//! body_limit = 1048576         # bytes; larger requests get 413
//! approval_ttl_secs = 86400    # pending quorum operations expire after this
//! certificate_days = 30        # the server's TLS certificate; renewed with a third left
//! max_connections = 512        # open connections; more are closed at once
//! max_unauthenticated = 128    # of those, in the TLS handshake or without a client certificate
//! handshake_timeout_secs = 10  # a TLS handshake not done by then is dropped
//! header_read_timeout_secs = 30    # a request's headers not read by then: connection closed
//! refusal_summary_secs = 60    # repeated refusals (revoked certificate, quota) audited once per
//!
//! [aws]                        # the AWS KMS-compatible endpoint (off without `listen`)
//! listen = "127.0.0.1:8444"    # TLS, server certificate from the host CA, no client certificate
//! region = "eu-central-1"      # the region SigV4 scopes and ARNs name
//! account_id = "111122223333"  # 12 digits, in ARNs
//! separation_of_duties = true  # false: an access key may hold crypto-officer and crypto-user
//! access_key_recheck_ms = 1000 # an access key's row is read again after this (0: every
//!                              # request); a revocation outside this server takes this long
//!
//! [backup]                     # backups the server takes (`POST /v1/backups`, schedule)
//! dir = "/var/lib/kastell/backups"   # default <data_dir>/backups
//! every_secs = 86400           # a scheduled backup this often while serving (off without)
//! keep = 7                     # scheduled backups kept in dir, newest first
//! recipients = ["/etc/kastell/escrow-1.pub"]   # P-384 SPKI PEM of each escrow holder
//! token_recipient = true       # seal to the token backup key too (`kastell backup key create`)
//!
//! [policies]                   # limits of one policy evaluation
//! fuel = 20000000              # instantiation included (tenant-context burns ~6,700)
//! wall_clock_ms = 250          # a backstop to fuel
//!
//! [workloads]
//! fuel = 2000000000            # per invocation (an HPKE open costs ~94 M)
//! wall_clock_ms = 5000         # per invocation, host calls included
//!
//! [release]                    # attested key release
//! trusted_roots = ["/etc/kastell/partner-root.pem"]   # other owners' EU roots to accept
//! trust_own_root = true        # accept this deployment's own root (default)
//! challenge_ttl_secs = 120     # a release nonce is usable once within this
//! max_attestation_age_secs = 300   # oldest attestation accepted
//! max_clock_skew_secs = 5      # how far an attesting host's clock may run ahead
//! challenges_per_client = 64   # open release challenges one client may hold
//! max_challenges = 100000      # open release challenges in all
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The data directory (store, policies, soft token, CA files).
    pub data_dir: Option<PathBuf>,
    /// The token.
    #[serde(default)]
    pub token: TokenConfig,
    /// The store.
    #[serde(default)]
    pub store: StoreConfig,
    /// The audit trail.
    #[serde(default)]
    pub audit: AuditConfig,
    /// The HTTPS server.
    #[serde(default)]
    pub server: ServerConfig,
    /// Attested key release.
    #[serde(default)]
    pub release: ReleaseConfig,
    /// Policy evaluation limits.
    #[serde(default)]
    pub policies: PoliciesConfig,
    /// Workload limits.
    #[serde(default)]
    pub workloads: WorkloadsConfig,
    /// The cache of unwrapped keys.
    #[serde(default)]
    pub keys: KeysConfig,
    /// The AWS KMS-compatible endpoint.
    #[serde(default)]
    pub aws: AwsConfig,
    /// Backups taken by the server.
    #[serde(default)]
    pub backup: BackupConfig,
}

/// `[backup]`: where the server keeps the backups it takes (`POST /v1/backups`), and
/// backups it takes on a schedule while serving.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// The folder (default `<data_dir>/backups`).
    pub dir: Option<PathBuf>,
    /// Take a backup every this many seconds while serving (off without it; needs
    /// `recipients`).
    pub every_secs: Option<u64>,
    /// After a scheduled backup, keep the newest this many in `dir` (default
    /// [`DEFAULT_BACKUP_KEEP`]).
    pub keep: Option<u64>,
    /// The escrow holders' P-384 public keys (SPKI PEM files) scheduled backups are
    /// sealed to.
    #[serde(default)]
    pub recipients: Vec<PathBuf>,
    /// Seal scheduled backups to the token backup key too (`kastell backup key create`
    /// makes it): the same token opens them.
    #[serde(default)]
    pub token_recipient: bool,
}

/// Scheduled backups kept unless `[backup] keep` says otherwise.
pub const DEFAULT_BACKUP_KEEP: u64 = 7;

/// `[aws]`: the AWS KMS-compatible endpoint, served by `kastell serve` when `listen` is
/// set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Socket address of its TLS listener; without it the endpoint is off.
    pub listen: Option<String>,
    /// The region requests are signed for and ARNs name (default [`DEFAULT_AWS_REGION`]).
    pub region: Option<String>,
    /// The 12-digit account id ARNs name (default [`DEFAULT_AWS_ACCOUNT_ID`]).
    pub account_id: Option<String>,
    /// `false` lets one principal hold crypto-officer and crypto-user (an access key with
    /// both roles, for AWS-style test and development set-ups); on by default. `kastell
    /// serve` records a change in the audit trail and logs the value at start-up.
    pub separation_of_duties: Option<bool>,
    /// Milliseconds an access key's row is used before it is read from the store again
    /// (default 1,000, at most [`MAX_ACCESS_KEY_RECHECK_MS`]; 0 reads it on every request):
    /// how long a revocation made outside this server (`kastell access-key revoke
    /// --config`, another server on the same store) takes to be honoured. One made through
    /// this server is honoured from the next request on whatever the value.
    pub access_key_recheck_ms: Option<u64>,
}

/// The longest `[aws] access_key_recheck_ms`: one minute.
pub const MAX_ACCESS_KEY_RECHECK_MS: u64 = 60_000;

/// The region of the AWS endpoint unless configured.
pub const DEFAULT_AWS_REGION: &str = "eu-central-1";
/// The account id of the AWS endpoint's ARNs unless configured.
pub const DEFAULT_AWS_ACCOUNT_ID: &str = "000000000000";

impl AwsConfig {
    /// The configured region, or [`DEFAULT_AWS_REGION`].
    #[must_use]
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(DEFAULT_AWS_REGION)
    }

    /// The configured account id, or [`DEFAULT_AWS_ACCOUNT_ID`].
    #[must_use]
    pub fn account_id(&self) -> &str {
        self.account_id.as_deref().unwrap_or(DEFAULT_AWS_ACCOUNT_ID)
    }

    /// Whether a principal keeps one role (`separation_of_duties`, on unless `false`).
    #[must_use]
    pub fn duties(&self) -> crate::clients::Duties {
        crate::clients::Duties::from_setting(self.separation_of_duties.unwrap_or(true))
    }

    /// How long an access key's row is used before it is read again
    /// (`access_key_recheck_ms`, default [`crate::keys::ACCESS_KEY_RECHECK`]).
    #[must_use]
    pub fn access_key_recheck(&self) -> std::time::Duration {
        self.access_key_recheck_ms.map_or(
            crate::keys::ACCESS_KEY_RECHECK,
            std::time::Duration::from_millis,
        )
    }

    fn problem(&self) -> Option<String> {
        if let Some(ms) = self.access_key_recheck_ms
            && ms > MAX_ACCESS_KEY_RECHECK_MS
        {
            return Some(format!(
                "aws.access_key_recheck_ms = {ms}: at most {MAX_ACCESS_KEY_RECHECK_MS} (one minute)"
            ));
        }
        if let Some(account) = &self.account_id
            && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(format!("aws.account_id = \"{account}\": 12 digits"));
        }
        if let Some(region) = &self.region {
            let ok = !region.is_empty()
                && region.len() <= 32
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Some(format!(
                    "aws.region = \"{region}\": 1–32 of a–z 0–9 - (e.g. eu-central-1)"
                ));
            }
        }
        None
    }
}

/// `[keys]`: the cache of unwrapped key versions (see [`crate::keys::KeyCache`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Most unwrapped key versions held in memory (default 10,000; 0 turns the cache off).
    pub cache_entries: Option<u64>,
    /// Seconds an unwrapped version is reused (default 300).
    pub cache_ttl_secs: Option<u64>,
    /// Most key records (and aliases) a server holds in memory (default
    /// [`crate::keys::RECORD_CACHE_ENTRIES`]; 0: every key operation reads the store).
    pub record_cache_entries: Option<u64>,
}

/// `[policies]`: the limits of one policy evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliciesConfig {
    /// Fuel one evaluation may burn, instantiation included (default 20,000,000).
    pub fuel: Option<u64>,
    /// Wall-clock bound of one evaluation in milliseconds, a backstop to `fuel` (default
    /// 250; the sandbox's clock ticks every 5 ms).
    pub wall_clock_ms: Option<u64>,
}

/// `[workloads]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadsConfig {
    /// Fuel one invocation may burn (default 2,000,000,000).
    pub fuel: Option<u64>,
    /// Wall-clock bound of one invocation in milliseconds, host calls included (default
    /// 5,000).
    pub wall_clock_ms: Option<u64>,
}

/// `[release]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    /// PEM files of roots (other hosts' owners) whose attestations are accepted, besides
    /// this deployment's own root.
    pub trusted_roots: Option<Vec<PathBuf>>,
    /// Whether attestations chaining to this deployment's own root are accepted (default
    /// true).
    pub trust_own_root: Option<bool>,
    /// Seconds a release challenge nonce stays usable (default
    /// [`DEFAULT_CHALLENGE_TTL_SECS`]).
    pub challenge_ttl_secs: Option<u64>,
    /// Oldest attestation accepted, seconds since it was issued (default
    /// [`DEFAULT_MAX_ATTESTATION_AGE_SECS`]).
    pub max_attestation_age_secs: Option<u64>,
    /// How many seconds an attesting host's clock may run ahead of this one (default
    /// [`DEFAULT_MAX_CLOCK_SKEW_SECS`]).
    pub max_clock_skew_secs: Option<u64>,
    /// Open release challenges one client (principal) may hold; more are refused with
    /// `Throttled` (default [`DEFAULT_CHALLENGES_PER_CLIENT`]).
    pub challenges_per_client: Option<u64>,
    /// Open release challenges in all; more are refused with `TooManyChallenges` (default
    /// [`DEFAULT_MAX_CHALLENGES`]).
    pub max_challenges: Option<u64>,
}

/// Open release challenges one client may hold unless configured.
pub const DEFAULT_CHALLENGES_PER_CLIENT: u64 = 64;
/// Open release challenges in all unless configured.
pub const DEFAULT_MAX_CHALLENGES: u64 = 100_000;

/// The clock difference between attesting and releasing hosts tolerated unless configured.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 5;

/// How long a release challenge is usable unless configured.
pub const DEFAULT_CHALLENGE_TTL_SECS: u64 = 120;
/// The oldest attestation a release accepts unless configured: its certificate's lifetime.
pub const DEFAULT_MAX_ATTESTATION_AGE_SECS: u64 = 300;

/// `[server]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket address to listen on (default [`DEFAULT_LISTEN`]).
    pub listen: Option<String>,
    /// DNS names and IP addresses the server's certificate names (default `localhost`,
    /// `127.0.0.1`, `::1`).
    pub names: Option<Vec<String>>,
    /// Largest request body in bytes (default [`DEFAULT_BODY_LIMIT`]).
    pub body_limit: Option<usize>,
    /// Seconds a pending quorum operation waits for approvals (default
    /// [`DEFAULT_APPROVAL_TTL_SECS`]).
    pub approval_ttl_secs: Option<u64>,
    /// Validity of the server's TLS certificate in days, 1–397 (default 30); it is renewed
    /// while serving when a third is left.
    pub certificate_days: Option<u32>,
    /// Connections open at once; one more is closed as soon as it is accepted (default
    /// [`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: Option<u64>,
    /// Of those, connections still in the TLS handshake or without a client certificate
    /// (default [`DEFAULT_MAX_UNAUTHENTICATED`]).
    pub max_unauthenticated: Option<u64>,
    /// Seconds a TLS handshake may take (default [`DEFAULT_HANDSHAKE_TIMEOUT_SECS`]).
    pub handshake_timeout_secs: Option<u64>,
    /// Seconds a request's headers may take to arrive, counted from when the server waits
    /// for them (after the handshake, and after each answer on a kept-alive connection)
    /// (default [`DEFAULT_HEADER_READ_TIMEOUT_SECS`]).
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds between the audit records that sum up repeated refusals of one kind (a
    /// revoked certificate's requests, a client over its challenge quota): the first is
    /// audited at once, the rest counted (default [`DEFAULT_REFUSAL_SUMMARY_SECS`]).
    pub refusal_summary_secs: Option<u64>,
}

/// Connections open at once unless configured.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 512;
/// Connections in the TLS handshake or without a client certificate unless configured.
pub const DEFAULT_MAX_UNAUTHENTICATED: u64 = 128;
/// How long a TLS handshake may take unless configured.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;
/// How long a request's headers may take to arrive unless configured.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 30;
/// How often repeated refusals are summed up in the audit trail unless configured.
pub const DEFAULT_REFUSAL_SUMMARY_SECS: u64 = 60;

/// Where `kastell serve` listens unless configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Largest request body unless configured: 1 MiB (policies are uploaded whole).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// How long a pending quorum operation waits unless configured: one day.
pub const DEFAULT_APPROVAL_TTL_SECS: u64 = 86_400;

/// `[token]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A PKCS#11 module; without it the soft token in the data directory is used.
    pub pkcs11_module: Option<PathBuf>,
    /// The PKCS#11 token's label.
    pub label: Option<String>,
    /// File whose first line is the PIN or the soft token's passphrase.
    pub secret_file: Option<PathBuf>,
}

/// `[store]`: where the state lives. Without `url`, the SQLite file in the data
/// directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A PostgreSQL URL (`postgres://user@host:port/database`), without a password.
    pub url: Option<String>,
    /// File whose first line is the database password (otherwise read from
    /// `KASTELL_STORE_PASSWORD`, or none).
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA certificates the database's TLS certificate must chain to
    /// (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Connections to the database at most (default 16).
    pub max_connections: Option<u32>,
    /// Milliseconds between reads of the store's change counter (default
    /// [`DEFAULT_CHANGE_CHECK_MS`], 10 to 60,000): what a host keeps in memory (unwrapped
    /// keys, revoked client certificates, access-key rows) learns of a change made by
    /// another host within two of these even when the change's notice was lost (one on
    /// SQLite, which sends none); with notices (PostgreSQL), within milliseconds.
    pub change_check_ms: Option<u64>,
}

/// How often the store's change counter is read unless configured: every second.
pub const DEFAULT_CHANGE_CHECK_MS: u64 = 1_000;

/// `[audit]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Audit records between signed checkpoints (0: only on request).
    pub checkpoint_every: Option<u64>,
}

/// Why a configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// The file (or environment variable) at fault.
    pub source_name: String,
    /// What is wrong, with line and column for file errors.
    pub message: String,
}

impl Config {
    /// Parses `text`, read from `name` (for messages).
    ///
    /// # Errors
    /// Invalid TOML, an unknown key, a value of the wrong type; the message names the line,
    /// column and key.
    pub fn parse(text: &str, name: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError {
            source_name: name.to_owned(),
            message: e.to_string().trim_end().replace('\n', " | "),
        })
    }

    /// Reads and parses `path`.
    ///
    /// # Errors
    /// An unreadable file, or as [`Config::parse`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source_name: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Applies the environment over the file's values: `KASTELL_DATA_DIR` (`data_dir`),
    /// `KASTELL_PKCS11_MODULE`, `KASTELL_TOKEN_LABEL`, `KASTELL_SECRET_FILE` (`token.*`),
    /// `KASTELL_CHECKPOINT_EVERY` (`audit.checkpoint_every`), `KASTELL_LISTEN`
    /// (`server.listen`); empty values count as unset.
    ///
    /// # Errors
    /// A variable whose value does not fit its key (e.g. a non-number).
    pub fn with_env(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        if let Some(dir) = set("KASTELL_DATA_DIR") {
            self.data_dir = Some(dir.into());
        }
        if let Some(module) = set("KASTELL_PKCS11_MODULE") {
            self.token.pkcs11_module = Some(module.into());
        }
        if let Some(label) = set("KASTELL_TOKEN_LABEL") {
            self.token.label = Some(label);
        }
        if let Some(file) = set("KASTELL_SECRET_FILE") {
            self.token.secret_file = Some(file.into());
        }
        if let Some(listen) = set("KASTELL_LISTEN") {
            self.server.listen = Some(listen);
        }
        if let Some(every) = set("KASTELL_CHECKPOINT_EVERY") {
            self.audit.checkpoint_every = Some(every.parse().map_err(|_| ConfigError {
                source_name: "KASTELL_CHECKPOINT_EVERY".into(),
                message: format!("`{every}` is not a whole number of records"),
            })?);
        }
        Ok(self)
    }

    /// Checks what the file alone can tell.
    ///
    /// # Errors
    /// A PKCS#11 module without a token label, or a label without a module.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if let Some(days) = self.server.certificate_days
            && !(1..=397).contains(&days)
        {
            return Err(ConfigError {
                source_name: name.to_owned(),
                message: format!("server.certificate_days = {days}: 1–397"),
            });
        }
        if self.backup.every_secs.is_some()
            && self.backup.recipients.is_empty()
            && !self.backup.token_recipient
        {
            return Err(ConfigError {
                source_name: name.to_owned(),
                message: "backup.every_secs needs backup.recipients (the escrow holders' \
                          public keys a scheduled backup is sealed to) or \
                          backup.token_recipient = true"
                    .into(),
            });
        }
        if let Some(message) = self.aws.problem() {
            return Err(ConfigError {
                source_name: name.to_owned(),
                message,
            });
        }
        let ranges = [
            ("policies.fuel", self.policies.fuel, 10_000, 1_000_000_000),
            (
                "policies.wall_clock_ms",
                self.policies.wall_clock_ms,
                10,
                60_000,
            ),
            ("workloads.fuel", self.workloads.fuel, 1, 1_000_000_000_000),
            ("keys.cache_entries", self.keys.cache_entries, 0, 10_000_000),
            (
                "keys.record_cache_entries",
                self.keys.record_cache_entries,
                0,
                10_000_000,
            ),
            ("backup.every_secs", self.backup.every_secs, 1, 366 * 86_400),
            ("backup.keep", self.backup.keep, 1, 100_000),
            ("keys.cache_ttl_secs", self.keys.cache_ttl_secs, 1, 86_400),
            (
                "workloads.wall_clock_ms",
                self.workloads.wall_clock_ms,
                1,
                600_000,
            ),
            (
                "release.challenge_ttl_secs",
                self.release.challenge_ttl_secs,
                1,
                86_400,
            ),
            (
                "release.max_attestation_age_secs",
                self.release.max_attestation_age_secs,
                1,
                86_400,
            ),
            (
                "release.max_clock_skew_secs",
                self.release.max_clock_skew_secs,
                0,
                300,
            ),
            (
                "release.challenges_per_client",
                self.release.challenges_per_client,
                1,
                100_000,
            ),
            (
                "release.max_challenges",
                self.release.max_challenges,
                1,
                10_000_000,
            ),
            (
                "store.max_connections",
                self.store.max_connections.map(u64::from),
                2,
                10_000,
            ),
            (
                "store.change_check_ms",
                self.store.change_check_ms,
                10,
                60_000,
            ),
            (
                "server.max_connections",
                self.server.max_connections,
                1,
                1_000_000,
            ),
            (
                "server.max_unauthenticated",
                self.server.max_unauthenticated,
                1,
                1_000_000,
            ),
            (
                "server.handshake_timeout_secs",
                self.server.handshake_timeout_secs,
                1,
                300,
            ),
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
                1,
                3_600,
            ),
            (
                "server.refusal_summary_secs",
                self.server.refusal_summary_secs,
                1,
                86_400,
            ),
        ];
        for (key, value, low, high) in ranges {
            if let Some(value) = value
                && !(low..=high).contains(&value)
            {
                return Err(ConfigError {
                    source_name: name.to_owned(),
                    message: format!("{key} = {value}: {low}–{high}"),
                });
            }
        }
        if let Some(url) = &self.store.url
            && let Err(err) = crate::store::PostgresOptions::new(url)
        {
            return Err(ConfigError {
                source_name: name.to_owned(),
                message: format!("store.url: {err}"),
            });
        }
        if self.store.url.is_none()
            && (self.store.password_file.is_some()
                || self.store.ca_file.is_some()
                || self.store.max_connections.is_some())
        {
            return Err(ConfigError {
                source_name: name.to_owned(),
                message: "[store] settings without store.url (the SQLite store takes none)"
                    .to_owned(),
            });
        }
        let problem = match (&self.token.pkcs11_module, &self.token.label) {
            (Some(_), None) => {
                Some("token.pkcs11_module needs token.label (tokens are found by label)")
            }
            (None, Some(_)) => Some("token.label is set but token.pkcs11_module is not"),
            _ => None,
        };
        match problem {
            Some(message) => Err(ConfigError {
                source_name: name.to_owned(),
                message: message.to_owned(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_is_checked_and_never_holds_a_password() {
        let good = Config::parse(
            "[store]\nurl = \"postgres://kastell@db:5432/kastell\"\nmax_connections = 8\n",
            "kastell.toml",
        )
        .unwrap_or_default();
        assert_eq!(good.validate("kastell.toml"), Ok(()));
        for (text, named) in [
            (
                "[store]\nurl = \"postgres://kastell:hunter2@db/kastell\"\n",
                "holds a password",
            ),
            (
                "[store]\nurl = \"mysql://kastell@db/kastell\"\n",
                "not a PostgreSQL URL",
            ),
            (
                "[store]\npassword_file = \"/etc/pw\"\n",
                "without store.url",
            ),
            (
                "[store]\nurl = \"postgres://k@db/k\"\nmax_connections = 1\n",
                "store.max_connections = 1",
            ),
        ] {
            let config = Config::parse(text, "kastell.toml").unwrap_or_default();
            let err = config
                .validate("kastell.toml")
                .err()
                .unwrap_or_else(|| ConfigError {
                    source_name: String::new(),
                    message: format!("accepted: {text}"),
                });
            assert!(err.message.contains(named), "{text}: {err}");
            assert!(!err.message.contains("hunter2"), "{err}");
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_full_file_parses_and_the_environment_overrides_it() {
        let text = r#"
            data_dir = "/var/lib/kastell"
            [token]
            pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
            label = "kastell"
            secret_file = "/etc/kastell/pin"
            [audit]
            checkpoint_every = 500
        "#;
        let config = Config::parse(text, "kastell.toml").unwrap_or_default();
        assert_eq!(config.data_dir, Some(PathBuf::from("/var/lib/kastell")));
        assert_eq!(config.token.label.as_deref(), Some("kastell"));
        assert_eq!(config.audit.checkpoint_every, Some(500));
        assert_eq!(config.validate("kastell.toml"), Ok(()));
        let env = |name: &str| match name {
            "KASTELL_DATA_DIR" => Some("/srv/kastell".to_owned()),
            "KASTELL_CHECKPOINT_EVERY" => Some("10".to_owned()),
            "KASTELL_TOKEN_LABEL" => Some(String::new()),
            _ => None,
        };
        let merged = config.with_env(env).unwrap_or_default();
        assert_eq!(merged.data_dir, Some(PathBuf::from("/srv/kastell")));
        assert_eq!(merged.audit.checkpoint_every, Some(10));
        assert_eq!(
            merged.token.label.as_deref(),
            Some("kastell"),
            "empty = unset"
        );
        assert_eq!(Config::parse("", "empty.toml"), Ok(Config::default()));
        assert_eq!(Config::default().with_env(no_env), Ok(Config::default()));
    }

    #[test]
    fn release_and_workload_settings_parse_and_zero_is_refused() {
        let text = "[policies]\nfuel = 1000000\nwall_clock_ms = 20\n\
                    [workloads]\nfuel = 500000000\nwall_clock_ms = 2000\n\
                    [release]\ntrusted_roots = [\"/etc/kastell/b.pem\"]\n\
                    trust_own_root = false\nchallenge_ttl_secs = 30\n";
        let config = Config::parse(text, "k.toml").unwrap_or_default();
        assert_eq!(config.policies.fuel, Some(1_000_000));
        assert_eq!(config.policies.wall_clock_ms, Some(20));
        assert_eq!(config.workloads.fuel, Some(500_000_000));
        assert_eq!(config.workloads.wall_clock_ms, Some(2000));
        assert_eq!(
            config.release.trusted_roots,
            Some(vec![PathBuf::from("/etc/kastell/b.pem")])
        );
        assert_eq!(config.release.trust_own_root, Some(false));
        assert_eq!(config.validate("k.toml"), Ok(()));
        let zero = Config::parse("[release]\nchallenge_ttl_secs = 0\n", "k.toml")
            .unwrap_or_default()
            .validate("k.toml")
            .unwrap_err();
        assert!(
            zero.message
                .contains("release.challenge_ttl_secs = 0: 1–86400"),
            "{zero}"
        );
        let huge = Config::parse("[workloads]\nwall_clock_ms = 9999999999\n", "k.toml")
            .unwrap_or_default()
            .validate("k.toml")
            .unwrap_err();
        assert!(huge.message.contains("workloads.wall_clock_ms"), "{huge}");
        // Below one sandbox clock tick pair, or too little fuel to instantiate: refused.
        let short = Config::parse("[policies]\nwall_clock_ms = 5\n", "k.toml")
            .unwrap_or_default()
            .validate("k.toml")
            .unwrap_err();
        assert!(
            short
                .message
                .contains("policies.wall_clock_ms = 5: 10–60000"),
            "{short}"
        );
        let typo = Config::parse("[release]\ntrusted_root = []\n", "k.toml").unwrap_err();
        assert!(typo.message.contains("trusted_root"), "{typo}");
    }

    #[test]
    fn connection_and_quota_settings_parse_and_out_of_range_values_are_named() {
        let text = "[server]\nmax_connections = 64\nmax_unauthenticated = 8\n\
                    handshake_timeout_secs = 2\nheader_read_timeout_secs = 3\n\
                    refusal_summary_secs = 5\n\
                    [release]\nchallenges_per_client = 3\nmax_challenges = 1000\n";
        let config = Config::parse(text, "k.toml").unwrap_or_default();
        assert_eq!(config.server.max_connections, Some(64));
        assert_eq!(config.server.max_unauthenticated, Some(8));
        assert_eq!(config.server.handshake_timeout_secs, Some(2));
        assert_eq!(config.server.header_read_timeout_secs, Some(3));
        assert_eq!(config.server.refusal_summary_secs, Some(5));
        assert_eq!(config.release.challenges_per_client, Some(3));
        assert_eq!(config.release.max_challenges, Some(1000));
        assert_eq!(config.validate("k.toml"), Ok(()));
        for (text, named) in [
            (
                "[server]\nmax_connections = 0\n",
                "server.max_connections = 0: 1–1000000",
            ),
            (
                "[server]\nhandshake_timeout_secs = 0\n",
                "server.handshake_timeout_secs = 0",
            ),
            (
                "[release]\nchallenges_per_client = 0\n",
                "release.challenges_per_client = 0",
            ),
        ] {
            let err = Config::parse(text, "k.toml")
                .unwrap_or_default()
                .validate("k.toml")
                .unwrap_err();
            assert!(err.message.contains(named), "{err}");
        }
    }

    #[test]
    fn key_cache_settings_parse_zero_entries_turn_it_off_and_a_zero_ttl_is_refused() {
        let config = Config::parse("[keys]\ncache_entries = 0\ncache_ttl_secs = 60\n", "k.toml")
            .unwrap_or_default();
        assert_eq!(config.keys.cache_entries, Some(0));
        assert_eq!(config.keys.cache_ttl_secs, Some(60));
        assert_eq!(config.validate("k.toml"), Ok(()));
        let zero = Config::parse("[keys]\ncache_ttl_secs = 0\n", "k.toml")
            .unwrap_or_default()
            .validate("k.toml")
            .unwrap_err();
        assert!(zero.message.contains("keys.cache_ttl_secs = 0"), "{zero}");
        let typo = Config::parse("[keys]\ncache_size = 5\n", "k.toml").unwrap_err();
        assert!(typo.message.contains("cache_size"), "{typo}");
    }

    #[test]
    fn the_aws_table_parses_and_a_malformed_account_or_region_is_named() {
        let text = "[aws]\nlisten = \"127.0.0.1:8444\"\nregion = \"eu-west-3\"\n\
                    account_id = \"111122223333\"\n";
        let config = Config::parse(text, "k.toml").unwrap_or_default();
        assert_eq!(config.aws.listen.as_deref(), Some("127.0.0.1:8444"));
        assert_eq!(config.aws.region(), "eu-west-3");
        assert_eq!(config.aws.account_id(), "111122223333");
        assert_eq!(config.validate("k.toml"), Ok(()));
        assert_eq!(
            config.aws.duties(),
            crate::clients::Duties::Separated,
            "on by default"
        );
        let off =
            Config::parse("[aws]\nseparation_of_duties = false\n", "k.toml").unwrap_or_default();
        assert_eq!(off.aws.duties(), crate::clients::Duties::Combined);
        assert!(Config::parse("[aws]\nseparation_of_duties = \"no\"\n", "k.toml").is_err());
        assert_eq!(
            config.aws.access_key_recheck(),
            crate::keys::ACCESS_KEY_RECHECK
        );
        let every =
            Config::parse("[aws]\naccess_key_recheck_ms = 0\n", "k.toml").unwrap_or_default();
        assert_eq!(every.aws.access_key_recheck(), std::time::Duration::ZERO);
        assert_eq!(every.validate("k.toml"), Ok(()));
        for (text, named) in [
            (
                "[aws]\naccount_id = \"12345\"\n",
                "aws.account_id = \"12345\": 12 digits",
            ),
            ("[aws]\naccount_id = \"11112222333a\"\n", "aws.account_id"),
            ("[aws]\nregion = \"EU Central\"\n", "aws.region"),
            (
                "[aws]\naccess_key_recheck_ms = 60001\n",
                "aws.access_key_recheck_ms = 60001: at most 60000",
            ),
        ] {
            let err = Config::parse(text, "k.toml")
                .unwrap_or_default()
                .validate("k.toml")
                .unwrap_err();
            assert!(err.message.contains(named), "{err}");
        }
        let typo = Config::parse("[aws]\nacount_id = \"1\"\n", "k.toml").unwrap_err();
        assert!(typo.message.contains("acount_id"), "{typo}");
    }

    #[test]
    fn mistakes_are_named_with_their_place() {
        let typo = Config::parse("data_dri = \"/x\"\n", "kastell.toml").unwrap_err();
        assert!(typo.message.contains("data_dri"), "{typo}");
        assert!(typo.to_string().starts_with("kastell.toml:"), "{typo}");
        let wrong_type =
            Config::parse("[audit]\ncheckpoint_every = \"often\"\n", "k.toml").unwrap_err();
        assert!(wrong_type.message.contains("line 2"), "{wrong_type}");
        let unknown_table = Config::parse("[servr]\nlisten = \"x\"\n", "k.toml").unwrap_err();
        assert!(unknown_table.message.contains("servr"), "{unknown_table}");
        let unknown_key =
            Config::parse("[server]\nlisen = \"127.0.0.1:1\"\n", "k.toml").unwrap_err();
        assert!(unknown_key.message.contains("lisen"), "{unknown_key}");
        let listen_type = Config::parse("[server]\nlisten = 1\n", "k.toml").unwrap_err();
        assert!(listen_type.message.contains("line 2"), "{listen_type}");
        let broken = Config::parse("data_dir = \n", "k.toml").unwrap_err();
        assert!(broken.message.contains("line 1"), "{broken}");
        let half =
            Config::parse("[token]\npkcs11_module = \"/m.so\"\n", "k.toml").unwrap_or_default();
        assert!(
            half.validate("k.toml")
                .unwrap_err()
                .message
                .contains("token.label")
        );
        let bad_env = Config::default()
            .with_env(|n| (n == "KASTELL_CHECKPOINT_EVERY").then(|| "lots".to_owned()))
            .unwrap_err();
        assert_eq!(bad_env.source_name, "KASTELL_CHECKPOINT_EVERY");
    }
}

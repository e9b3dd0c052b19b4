//! Reaching the database: the options (URL, password kept apart and never shown, TLS
//! anchors, pool size), the pool's connections with their prepared statements, and how a
//! PostgreSQL failure becomes a [`StoreError`]: the database away (unreachable, restarted,
//! connection dropped) is [`StoreError::Unavailable`], refused credentials
//! [`StoreError::Credentials`], anything else [`StoreError::Postgres`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{GenericClient, Row, Statement};
use secrecy::{ExposeSecret as _, SecretString};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// Connections the pool holds at most unless configured.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// How long opening a connection, or waiting for a free one, may take before the store
/// reports itself unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach a PostgreSQL database. The password is held apart from the URL (which
/// must not carry one: URLs end up in files, process lists and logs); `Debug` shows
/// whether there is one, never what it is.
#[derive(Clone)]
pub struct PostgresOptions {
    url: String,
    config: postgres::Config,
    password: Option<SecretString>,
    ca_file: Option<PathBuf>,
    max_connections: u32,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("ca_file", &self.ca_file)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl PostgresOptions {
    /// Options for the database at `url` (`postgres://user@host:port/database`, or
    /// `postgresql://…`; `?sslmode=require` insists on TLS).
    ///
    /// # Errors
    /// [`StoreError::Config`] when `url` is not a PostgreSQL URL, does not parse, or holds a
    /// password.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Config(format!(
                "store URL `{}` is not a PostgreSQL URL (postgres://user@host:port/database)",
                redact_url(url)
            )));
        }
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("store URL `{}`: {e}", redact_url(url))))?;
        if config.get_password().is_some() {
            return Err(StoreError::Config(format!(
                "the store URL holds a password: give it in [store] password_file or the {} \
                 environment variable instead",
                crate::deployment::STORE_PASSWORD_ENV
            )));
        }
        if config.get_user().is_none() {
            return Err(StoreError::Config(format!(
                "store URL `{url}` names no user (postgres://user@host/database)"
            )));
        }
        Ok(Self {
            url: url.to_owned(),
            config,
            password: None,
            ca_file: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        })
    }

    /// With this password.
    #[must_use]
    pub fn with_password(mut self, password: SecretString) -> Self {
        self.password = Some(password);
        self
    }

    /// Verifies the database's TLS certificate against the PEM certificates in `file`
    /// instead of the system's roots.
    #[must_use]
    pub fn with_ca_file(mut self, file: PathBuf) -> Self {
        self.ca_file = Some(file);
        self
    }

    /// At most `max` connections (at least 2: one commits audit records).
    #[must_use]
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(2);
        self
    }

    /// The URL (it holds no password).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connections the pool holds at most.
    pub(super) fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// The client configuration, password included.
    pub(super) fn client_config(&self) -> postgres::Config {
        let mut config = self.config.clone();
        if let Some(password) = &self.password {
            config.password(password.expose_secret());
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("kastell");
        config
    }

    /// TLS to the database: certificates verified against `ca_file` or the system roots.
    pub(super) fn tls(&self) -> Result<MakeRustlsConnect, StoreError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(file) => {
                for cert in read_certificates(file)? {
                    roots.add(cert).map_err(|e| {
                        StoreError::Config(format!("{}: not a usable CA: {e}", file.display()))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Config(format!("TLS to the database: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

fn read_certificates(
    file: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, StoreError> {
    use rustls::pki_types::pem::PemObject as _;
    let bad = |e: &dyn std::fmt::Display| {
        StoreError::Config(format!("[store] ca_file {}: {e}", file.display()))
    };
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(file)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// `url` for messages: a password after the user name replaced, and the query left out
/// when it may hold one.
fn redact_url(url: &str) -> String {
    if let Some((base, query)) = url.split_once('?')
        && query.contains("password")
    {
        return format!("{}?[redacted]", redact_url(base));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:[redacted]@{host}")
        }
        _ => url.to_owned(),
    }
}

/// A PostgreSQL failure for a person: the server's own message (severity, text, detail and
/// hint) when the server refused, otherwise the client's.
pub(crate) fn describe(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => db.to_string(),
        None => err.to_string(),
    }
}

/// The error for a PostgreSQL failure while doing `context`.
pub(in crate::store) fn pg(context: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| classify(context, source)
}

/// Sorts a PostgreSQL failure: away, refused credentials, or a failure of the statement.
pub(super) fn classify(context: &'static str, source: postgres::Error) -> StoreError {
    if is_unavailable(&source) {
        AWAY.fetch_add(1, Ordering::Relaxed);
        return StoreError::Unavailable {
            context,
            source: Box::new(source),
        };
    }
    if matches!(
        source.code(),
        Some(code) if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    ) {
        return StoreError::Credentials(source);
    }
    StoreError::Postgres { context, source }
}

/// Whether `err` says the database is away rather than that a statement failed: the
/// connection is closed or could not be made (an I/O error), or the server reports a
/// connection failure, a shutdown, a start-up in progress or too many connections.
fn is_unavailable(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        let code = code.code();
        return code.starts_with("08")
            || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "53000");
    }
    std::error::Error::source(err).is_some_and(|cause| cause.is::<std::io::Error>())
}

/// Whether a statement failed on a unique or foreign-key constraint.
pub(super) fn violates(err: &StoreError, state: &SqlState) -> bool {
    matches!(err, StoreError::Postgres { source, .. } if source.code() == Some(state))
}

/// A pooled connection and the statements prepared on it (each SQL text is parsed and
/// planned once per connection, not per request).
pub(super) struct PgConn {
    pub(super) client: postgres::Client,
    pub(super) statements: HashMap<&'static str, Statement>,
    /// When it was last handed out ([`checkout`]).
    last_used: Instant,
    /// Found dead by [`checkout`]: the pool discards it instead of keeping it.
    dead: bool,
    /// The value of [`AWAY`] when it was last handed out.
    away_seen: u64,
}

impl PgConn {
    /// Marks the connection for the pool to drop instead of handing it out again (its
    /// session is in a state that cannot be trusted, e.g. a transaction that would not roll
    /// back).
    pub(super) fn discard(&mut self) {
        self.dead = true;
    }
}

/// How many failures said the database was away ([`classify`]). A connection last handed
/// out before the latest such failure is asked whether it is alive before it is used again,
/// however recently it was used: the connection a failed request held may not know yet
/// that the database ended it (its farewell was read as the statement's error).
static AWAY: AtomicU64 = AtomicU64::new(0);

/// A connection idle for longer than this is asked whether it is alive (one round trip)
/// before it is handed out. Under load connections come back within milliseconds and are
/// handed out without the round trip.
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// A connection of `pool` for `context`, alive as far as one can tell, so that a restart of
/// the database (or an administrator ending connections) while a host was idle costs no
/// request: a connection whose farewell from the database is waiting in its socket (the
/// server's `FATAL` message, or the end of the stream: read without waiting, no round
/// trip), or that was idle for longer than [`IDLE_CHECK`] (or handed out before the latest
/// failure that said the database was away, [`AWAY`]) and does not answer an empty query,
/// is discarded and the next one taken (up to the pool's size, plus one new
/// connection). Blocks: call off the async workers.
///
/// # Errors
/// [`StoreError::Unavailable`] when no connection can be had (the database is away, or
/// every connection stayed busy past the pool's wait).
pub(super) fn checkout(
    pool: &r2d2::Pool<Manager>,
    context: &'static str,
) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
    use postgres::fallible_iterator::FallibleIterator as _;
    let unavailable = |source: r2d2::Error| StoreError::Unavailable {
        context,
        source: Box::new(source),
    };
    for _ in 0..=pool.max_size() {
        let mut conn = pool.get().map_err(unavailable)?;
        // Polls the connection once for what the server sent unasked (no LISTEN is issued
        // on pooled connections, so nothing is lost): an error or the end of the stream.
        let dropped = conn.client.notifications().iter().next().is_err() || conn.client.is_closed();
        let away = AWAY.load(Ordering::Relaxed);
        let suspect = conn.last_used.elapsed() > IDLE_CHECK || conn.away_seen != away;
        if !dropped && (!suspect || conn.client.simple_query("").is_ok()) {
            conn.last_used = Instant::now();
            conn.away_seen = away;
            return Ok(conn);
        }
        tracing::info!(
            context,
            "a pooled database connection was dropped; replacing it"
        );
        conn.dead = true;
    }
    Err(StoreError::Unavailable {
        context,
        source: "every pooled database connection was dropped and no new one answers".into(),
    })
}

/// Opens the pool's connections.
pub(super) struct Manager {
    pub(super) config: postgres::Config,
    pub(super) tls: MakeRustlsConnect,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(self.tls.clone())?,
            statements: HashMap::new(),
            last_used: Instant::now(),
            dead: false,
            away_seen: AWAY.load(Ordering::Relaxed),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.dead || conn.client.is_closed()
    }
}

/// Statements on a connection or inside one of its transactions, prepared once.
pub(super) struct Db<'a, C: GenericClient> {
    pub(super) client: &'a mut C,
    pub(super) statements: &'a mut HashMap<&'static str, Statement>,
}

impl<C: GenericClient> Db<'_, C> {
    fn statement(
        &mut self,
        what: &'static str,
        sql: &'static str,
    ) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).map_err(pg(what))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// The rows `sql` returns.
    pub(super) fn query(
        &mut self,
        what: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(what, sql)?;
        self.client.query(&statement, params).map_err(pg(what))
    }

    /// The row `sql` returns, if any (more than one is an error).
    pub(super) fn query_opt(
        &mut self,
        what: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let statement = self.statement(what, sql)?;
        self.client.query_opt(&statement, params).map_err(pg(what))
    }

    /// The number of rows `sql` changed.
    pub(super) fn execute(
        &mut self,
        what: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let statement = self.statement(what, sql)?;
        self.client.execute(&statement, params).map_err(pg(what))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "a failed expectation is a failed test")]

    use super::*;

    #[test]
    fn a_url_with_a_password_is_refused_without_repeating_the_password() {
        let err = PostgresOptions::new("postgres://kastell:hunter2@127.0.0.1:5432/kastell")
            .expect_err("a password in the URL");
        let text = err.to_string();
        assert!(text.contains("holds a password"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let err = PostgresOptions::new("postgres://kastell@127.0.0.1/kastell?password=hunter2")
            .expect_err("a password as a parameter");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn other_urls_are_refused_by_name() {
        for url in [
            "mysql://kastell@db/kastell",
            "/var/lib/kastell.db",
            "postgres://",
        ] {
            let err = PostgresOptions::new(url).expect_err(url);
            assert!(matches!(err, StoreError::Config(_)), "{url}: {err}");
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let options = PostgresOptions::new("postgres://kastell@127.0.0.1:5432/kastell")
            .expect("url")
            .with_password(SecretString::from("hunter2"));
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}

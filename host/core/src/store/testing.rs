//! Test support (not part of the API): every store backend this machine can run, each
//! fresh and empty, so that one test suite runs against SQLite and PostgreSQL alike.
//!
//! PostgreSQL runs when [`TEST_POSTGRES_ENV`] names a database whose user may create
//! databases (`scripts/postgres-env` starts such a cluster); each [`TestStore`] gets a
//! database of its own, dropped with it. Without the variable the PostgreSQL runs are
//! skipped with a printed reason, except under `CI=true`, where they are required.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::SecretString;

use super::{PostgresOptions, PostgresStore, SqliteStore, Store, StoreError};

/// The variable naming the test cluster: `postgres://user:password@host:port/database`.
pub const TEST_POSTGRES_ENV: &str = "KASTELL_TEST_POSTGRES_URL";

/// A store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A database of its own on the test cluster.
    Postgres,
}

/// An empty store of one backend, opened (and reopened) as often as a test likes.
#[derive(Debug)]
pub struct TestStore {
    /// Which backend.
    pub backend: Backend,
    dir: tempfile::TempDir,
    database: Option<TestDatabase>,
}

impl TestStore {
    /// A fresh SQLite store.
    ///
    /// # Panics
    /// When no temporary directory can be made.
    #[must_use]
    #[allow(
        clippy::expect_used,
        reason = "test support: a failure is a failed test"
    )]
    pub fn sqlite() -> Self {
        Self {
            backend: Backend::Sqlite,
            dir: tempfile::tempdir().expect("a temporary directory"),
            database: None,
        }
    }

    /// A fresh database on the test cluster, or `None` (with the reason printed) when
    /// [`TEST_POSTGRES_ENV`] is unset outside CI.
    ///
    /// # Panics
    /// Under `CI=true` without [`TEST_POSTGRES_ENV`], or when the database cannot be made.
    #[must_use]
    pub fn postgres() -> Option<Self> {
        let Some(url) = std::env::var(TEST_POSTGRES_ENV)
            .ok()
            .filter(|v| !v.is_empty())
        else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{TEST_POSTGRES_ENV} is unset: CI runs the store tests on PostgreSQL too \
                 (source scripts/postgres-env)"
            );
            eprintln!(
                "skipping the PostgreSQL run: {TEST_POSTGRES_ENV} is unset (source \
                 scripts/postgres-env to run it)"
            );
            return None;
        };
        let mut this = Self::sqlite();
        this.backend = Backend::Postgres;
        this.database = Some(TestDatabase::create(&url));
        Some(this)
    }

    /// The backend's name, for messages.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The SQLite file (SQLite only).
    #[must_use]
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("kastell.db")
    }

    /// The options of the PostgreSQL database, password included (PostgreSQL only).
    #[must_use]
    pub fn postgres_options(&self) -> Option<&PostgresOptions> {
        self.database.as_ref().map(|db| &db.options)
    }

    /// The PostgreSQL database's URL (without the password) and the password
    /// (PostgreSQL only), as an operator configures them.
    #[must_use]
    pub fn postgres_url(&self) -> Option<(String, Option<String>)> {
        self.database
            .as_ref()
            .map(|db| (db.options.url().to_owned(), db.password.clone()))
    }

    /// The PostgreSQL database's name (PostgreSQL only).
    #[must_use]
    pub fn database_name(&self) -> Option<&str> {
        self.database.as_ref().map(|db| db.name.as_str())
    }

    /// Opens the store.
    ///
    /// # Errors
    /// As the backend's `open`.
    pub fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match &self.database {
            None => Arc::new(SqliteStore::open(&self.sqlite_path())?),
            Some(db) => Arc::new(PostgresStore::open(&db.options)?),
        })
    }

    /// Runs `sql` (statements separated by `;`) on the backend directly, as someone with
    /// access to the database file or server would.
    ///
    /// # Errors
    /// The database's refusal, as text.
    pub fn sql(&self, sql: &str) -> Result<(), String> {
        match &self.database {
            None => rusqlite::Connection::open(self.sqlite_path())
                .and_then(|conn| conn.execute_batch(sql))
                .map_err(|e| e.to_string()),
            Some(db) => db
                .client()
                .and_then(|mut client| client.batch_execute(sql))
                .map_err(|e| super::postgres::describe(&e)),
        }
    }

    /// Runs `sql` on the test cluster's own database (to change this store's database from
    /// outside it, e.g. `ALTER DATABASE`; PostgreSQL only).
    ///
    /// # Errors
    /// The database's refusal, as text; SQLite has no cluster.
    pub fn cluster_sql(&self, sql: &str) -> Result<(), String> {
        let db = self.database.as_ref().ok_or("SQLite has no cluster")?;
        connect(&db.admin)
            .and_then(|mut client| client.batch_execute(sql))
            .map_err(|e| super::postgres::describe(&e))
    }
}

/// Every backend this machine runs, each fresh and empty: SQLite, and PostgreSQL as
/// [`TestStore::postgres`] says.
#[must_use]
pub fn test_stores() -> Vec<TestStore> {
    let mut stores = vec![TestStore::sqlite()];
    stores.extend(TestStore::postgres());
    stores
}

/// A database of its own on the test cluster; dropped with it.
#[derive(Debug)]
struct TestDatabase {
    /// The cluster's URL with its password, to create and drop databases.
    admin: String,
    name: String,
    options: PostgresOptions,
    password: Option<String>,
}

impl TestDatabase {
    #[allow(
        clippy::expect_used,
        reason = "test support: a failure is a failed test"
    )]
    fn create(admin: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "kastell_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let (without_password, password) = split_password(admin);
        let mut client = connect(admin).expect("the test cluster answers");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("a test database");
        let url = with_database(&without_password, &name);
        let mut options = PostgresOptions::new(&url).expect("the test cluster's URL");
        if let Some(password) = &password {
            options = options.with_password(SecretString::from(password.clone()));
        }
        Self {
            admin: admin.to_owned(),
            name,
            options,
            password,
        }
    }

    /// A connection to this database, as its owner.
    fn client(&self) -> Result<postgres::Client, postgres::Error> {
        connect(&with_database(&self.admin, &self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // On a thread of its own: a test may end inside an async runtime.
        let dropped = std::thread::spawn(move || {
            connect(&admin)
                .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("test database {} was not dropped", self.name);
        }
    }
}

fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    url.parse::<postgres::Config>()?.connect(postgres::NoTls)
}

/// `url` naming `database` instead of its own.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rsplit_once('/') {
        Some((host, _)) if host.contains("://") && !host.ends_with('/') => host,
        _ => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// `postgres://user:password@rest` as `postgres://user@rest` and the password.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, password)) => (
                format!("{scheme}://{user}@{host}"),
                Some(password.to_owned()),
            ),
            None => (url.to_owned(), None),
        },
        None => (url.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_and_pointed_at_another_database() {
        let (url, password) = split_password("postgres://kastell:pw@127.0.0.1:5/kastell");
        assert_eq!(url, "postgres://kastell@127.0.0.1:5/kastell");
        assert_eq!(password.as_deref(), Some("pw"));
        assert_eq!(
            with_database(&url, "other"),
            "postgres://kastell@127.0.0.1:5/other"
        );
        assert_eq!(
            with_database("postgres://k@h/db?sslmode=disable", "x"),
            "postgres://k@h/x?sslmode=disable"
        );
    }
}

//! The PostgreSQL schema: one migration per version, applied in order by the first host to
//! start, inside one transaction that holds an advisory lock, so that hosts starting at
//! the same time upgrade once and each waits for the other. A database of a newer schema
//! is refused by name. Versions count from 1 on their own (version 1 holds what SQLite's
//! schema holds at its version 18).
//!
//! Text that is compared or ordered (ids, aliases, serials, principals) uses the `C`
//! collation: byte order, as SQLite and the key service compare, whatever the database's
//! locale.

use postgres::Client;

use super::connect::pg;
use crate::store::StoreError;

/// Advisory lock key held while the schema is read and upgraded ("kastell" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b61_7374_656c_6c00;

/// Schema migrations; entry `n` takes the database from version `n` to `n + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // v1: everything SQLite's schema holds at its version 18.
    r#"
    CREATE TABLE keys (
        id                   TEXT COLLATE "C" PRIMARY KEY,
        spec                 TEXT NOT NULL,
        origin               TEXT NOT NULL,
        state                TEXT NOT NULL,
        delete_at            BIGINT,
        description          TEXT NOT NULL,
        tags                 TEXT NOT NULL,
        policy               TEXT,
        created              BIGINT NOT NULL,
        min_decrypt_version  BIGINT NOT NULL,
        releasable           BOOLEAN NOT NULL DEFAULT FALSE,
        revision             BIGINT NOT NULL DEFAULT 0 CHECK (revision >= 0),
        seal                 BYTEA,
        usage                TEXT,
        rotation_period_days BIGINT
            CHECK (rotation_period_days IS NULL OR rotation_period_days > 0),
        next_rotation        BIGINT
            CHECK ((next_rotation IS NULL) = (rotation_period_days IS NULL)),
        key_policy           TEXT
    );
    CREATE INDEX keys_pending_deletion ON keys (delete_at) WHERE state = 'pending-deletion';
    CREATE INDEX keys_rotation_due ON keys (next_rotation) WHERE next_rotation IS NOT NULL;
    CREATE TABLE key_versions (
        key_id      TEXT COLLATE "C" NOT NULL REFERENCES keys(id),
        number      BIGINT NOT NULL,
        created     BIGINT NOT NULL,
        token_label TEXT,
        master      TEXT,
        wrapped     BYTEA,
        automatic   BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (key_id, number),
        CHECK ((token_label IS NULL) <> (master IS NULL AND wrapped IS NULL))
    );
    CREATE TABLE aliases (
        alias  TEXT COLLATE "C" PRIMARY KEY,
        key_id TEXT COLLATE "C" NOT NULL REFERENCES keys(id),
        seal   BYTEA
    );
    CREATE INDEX aliases_by_key ON aliases (key_id);
    CREATE TABLE audit (
        seq          BIGINT PRIMARY KEY,
        time_ms      BIGINT NOT NULL,
        principal    TEXT NOT NULL,
        operation    TEXT NOT NULL,
        key_id       TEXT,
        key_version  BIGINT,
        policy       TEXT,
        outcome      TEXT NOT NULL,
        reason       TEXT NOT NULL,
        context_hmac BYTEA,
        prev_hash    BYTEA NOT NULL,
        hash         BYTEA NOT NULL,
        guest        TEXT
    );
    CREATE INDEX audit_settings ON audit (seq) WHERE operation = 'setting';
    CREATE TABLE audit_checkpoints (
        seq       BIGINT PRIMARY KEY,
        hash      BYTEA NOT NULL,
        time_ms   BIGINT NOT NULL,
        key_label TEXT NOT NULL,
        signature BYTEA NOT NULL,
        prev      BYTEA CHECK (prev IS NULL OR length(prev) = 48)
    );
    CREATE TABLE token_destruction (
        label  TEXT COLLATE "C" PRIMARY KEY,
        key_id TEXT COLLATE "C" NOT NULL REFERENCES keys(id)
    );
    CREATE TABLE quorum_settings (
        class    TEXT PRIMARY KEY,
        required BIGINT NOT NULL CHECK (required BETWEEN 1 AND 16)
    );
    CREATE TABLE pending_operations (
        id         TEXT COLLATE "C" PRIMARY KEY,
        class      TEXT NOT NULL,
        canonical  BYTEA NOT NULL,
        digest     BYTEA NOT NULL,
        requester  TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        state      TEXT NOT NULL,
        outcome    TEXT NOT NULL
    );
    CREATE INDEX pending_by_creation ON pending_operations (created_ms, id);
    CREATE TABLE approvals (
        op_id       TEXT COLLATE "C" NOT NULL REFERENCES pending_operations(id),
        officer     TEXT COLLATE "C" NOT NULL,
        certificate BYTEA NOT NULL,
        signature   BYTEA NOT NULL,
        at_ms       BIGINT NOT NULL,
        PRIMARY KEY (op_id, officer)
    );
    CREATE TABLE clients (
        serial       TEXT COLLATE "C" PRIMARY KEY,
        principal    TEXT COLLATE "C" NOT NULL,
        role         TEXT NOT NULL,
        tenant       TEXT,
        not_after_ms BIGINT NOT NULL,
        issued_ms    BIGINT NOT NULL,
        issued_by    TEXT NOT NULL,
        certificate  TEXT
    );
    CREATE INDEX clients_by_principal ON clients (lower(principal));
    CREATE TABLE revoked_clients (
        serial     TEXT COLLATE "C" PRIMARY KEY,
        revoked_ms BIGINT NOT NULL,
        revoked_by TEXT NOT NULL,
        reason     TEXT NOT NULL
    );
    CREATE TABLE access_keys (
        id         TEXT COLLATE "C" PRIMARY KEY,
        principal  TEXT COLLATE "C" NOT NULL,
        role       TEXT NOT NULL,
        tenant     TEXT,
        created_ms BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        key_label  TEXT NOT NULL,
        nonce      BYTEA NOT NULL CHECK (length(nonce) = 12),
        sealed     BYTEA NOT NULL,
        revoked_ms BIGINT,
        revoked_by TEXT,
        reason     TEXT
    );
    CREATE INDEX access_keys_by_principal ON access_keys (lower(principal));
"#,
    // v2 (SQLite's v19): shared state in the store. Release challenges (taken by one
    // DELETE … RETURNING, so a nonce works once whichever host issued it); policies and
    // workloads by measurement; the change counter that every change a host may hold in
    // memory increments in its own transaction (with a NOTIFY on `kastell_changes`).
    r#"
    CREATE TABLE IF NOT EXISTS release_challenges (
        nonce      BYTEA PRIMARY KEY,
        key_id     TEXT COLLATE "C" NOT NULL,
        principal  TEXT COLLATE "C" NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS release_challenges_by_expiry ON release_challenges (expires_ms);
    CREATE INDEX IF NOT EXISTS release_challenges_by_principal ON release_challenges (principal);
    CREATE TABLE IF NOT EXISTS components (
        kind        TEXT NOT NULL CHECK (kind IN ('policy', 'workload')),
        measurement TEXT COLLATE "C" NOT NULL CHECK (length(measurement) = 96),
        bytes       BYTEA NOT NULL,
        added_ms    BIGINT NOT NULL,
        PRIMARY KEY (kind, measurement)
    );
    CREATE TABLE IF NOT EXISTS kastell_changes (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        seq BIGINT NOT NULL CHECK (seq >= 0)
    );
    INSERT INTO kastell_changes (one, seq) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
"#,
    // v3: AWS KMS grants (issue 19; SQLite's v20): a key's grants as one JSON array, NULL
    // when it has none. The key's seal covers their canonical encoding.
    r"
    ALTER TABLE keys ADD COLUMN grants TEXT;
",
    // v4: SQLite's v21, imported key material (issue 19): an `external` key's material id
    // and when the material expires, indexed for the expiry sweep.
    r"
    ALTER TABLE keys ADD COLUMN material_id BYTEA
        CHECK (material_id IS NULL OR length(material_id) = 32);
    ALTER TABLE keys ADD COLUMN material_expires BIGINT
        CHECK (material_expires IS NULL OR material_id IS NOT NULL);
    CREATE INDEX keys_material_expiry ON keys (material_expires)
        WHERE material_expires IS NOT NULL;
",
    // v5 (issue 22), no new table: hosts hold key records and aliases in memory, and alias
    // changes move the change counter (with a notice) as key changes do. A host of an
    // older build does not, so its alias changes would never reach the others: it must not
    // share this database, and refuses it as newer than it supports.
    r"
    COMMENT ON TABLE kastell_changes IS
        'bumped by every change a host may hold in memory: keys, aliases, client and access-key revocations (schema 5)';
",
    // v6: SQLite's v23, rotation of imported key material (issue 19): an imported key's
    // materials as one JSON array, NULL for keys that list none, indexed for the expiry
    // sweep. The key's seal covers their canonical encoding.
    r"
    ALTER TABLE keys ADD COLUMN materials TEXT;
    CREATE INDEX keys_with_materials ON keys (id) WHERE materials IS NOT NULL;
",
];

/// Schema version this build writes.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database's schema up to [`SCHEMA_VERSION`], or refuses a newer one. One
/// transaction under an advisory lock: a host that starts while another upgrades waits,
/// then finds the schema current.
pub(super) fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(pg("begin migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg("lock the schema for migration"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS kastell_schema (
             one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
             version BIGINT NOT NULL
         )",
    )
    .map_err(pg("create the schema version table"))?;
    let found: i64 = tx
        .query_opt("SELECT version FROM kastell_schema", &[])
        .map_err(pg("read schema version"))?
        .map_or(Ok(0), |row| row.try_get(0))
        .map_err(pg("read schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.batch_execute(migration).map_err(pg("migrate schema"))?;
        let to = i64::try_from(from).unwrap_or(i64::MAX).saturating_add(1);
        tx.execute(
            "INSERT INTO kastell_schema (one, version) VALUES (TRUE, $1)
             ON CONFLICT (one) DO UPDATE SET version = excluded.version",
            &[&to],
        )
        .map_err(pg("record schema version"))?;
    }
    tx.commit().map_err(pg("commit migration"))
}

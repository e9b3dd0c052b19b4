//! The schema: one migration per version, applied in order inside a transaction.

/// Schema migrations; entry `n` takes the database from version `n` to `n + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    r"
    CREATE TABLE keys (
        id                  TEXT PRIMARY KEY,
        spec                TEXT NOT NULL,
        origin              TEXT NOT NULL,
        state               TEXT NOT NULL,
        delete_at           INTEGER,
        description         TEXT NOT NULL,
        tags                TEXT NOT NULL,
        policy              TEXT,
        created             INTEGER NOT NULL,
        min_decrypt_version INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE key_versions (
        key_id      TEXT NOT NULL REFERENCES keys(id),
        number      INTEGER NOT NULL,
        created     INTEGER NOT NULL,
        token_label TEXT,
        master      TEXT,
        wrapped     BLOB,
        PRIMARY KEY (key_id, number),
        CHECK ((token_label IS NULL) <> (master IS NULL AND wrapped IS NULL))
    ) STRICT;
    CREATE TABLE aliases (
        alias  TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys(id)
    ) STRICT;
    CREATE INDEX aliases_by_key ON aliases(key_id);
",
    r"
    CREATE TABLE audit (
        seq          INTEGER PRIMARY KEY,
        time_ms      INTEGER NOT NULL,
        principal    TEXT NOT NULL,
        operation    TEXT NOT NULL,
        key_id       TEXT,
        key_version  INTEGER,
        policy       TEXT,
        outcome      TEXT NOT NULL,
        reason       TEXT NOT NULL,
        context_hmac BLOB,
        prev_hash    BLOB NOT NULL,
        hash         BLOB NOT NULL
    ) STRICT;
",
    r"
    CREATE TABLE audit_checkpoints (
        seq       INTEGER PRIMARY KEY,
        hash      BLOB NOT NULL,
        time_ms   INTEGER NOT NULL,
        key_label TEXT NOT NULL,
        signature BLOB NOT NULL
    ) STRICT;
",
    r"
    CREATE TABLE token_destruction (
        label  TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys(id)
    ) STRICT;
",
    r"
    CREATE TABLE quorum_settings (
        class    TEXT PRIMARY KEY,
        required INTEGER NOT NULL CHECK (required BETWEEN 1 AND 16)
    ) STRICT;
    CREATE TABLE pending_operations (
        id         TEXT PRIMARY KEY,
        class      TEXT NOT NULL,
        canonical  BLOB NOT NULL,
        digest     BLOB NOT NULL,
        requester  TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        state      TEXT NOT NULL,
        outcome    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX pending_by_creation ON pending_operations(created_ms, id);
    CREATE TABLE approvals (
        op_id       TEXT NOT NULL REFERENCES pending_operations(id),
        officer     TEXT NOT NULL,
        certificate BLOB NOT NULL,
        signature   BLOB NOT NULL,
        at_ms       INTEGER NOT NULL,
        PRIMARY KEY (op_id, officer)
    ) STRICT;
",
    // v6: client certificates issued here, and revoked client certificates (by serial,
    // whoever issued them).
    "
    CREATE TABLE clients (
        serial       TEXT PRIMARY KEY,
        principal    TEXT NOT NULL,
        role         TEXT NOT NULL,
        tenant       TEXT,
        not_after_ms INTEGER NOT NULL,
        issued_ms    INTEGER NOT NULL,
        issued_by    TEXT NOT NULL
    ) STRICT;
    CREATE TABLE revoked_clients (
        serial     TEXT PRIMARY KEY,
        revoked_ms INTEGER NOT NULL,
        revoked_by TEXT NOT NULL,
        reason     TEXT NOT NULL
    ) STRICT;
",
    // v7: keys whose material may be released to attested guests (issue 6).
    "
    ALTER TABLE keys ADD COLUMN releasable INTEGER NOT NULL DEFAULT 0
        CHECK (releasable IN (0, 1));
",
    // v8: the issued client certificate itself (PEM), so a certificate issued after
    // approvals can be collected by its serial.
    "
    ALTER TABLE clients ADD COLUMN certificate TEXT;
",
    // v9: the attested guest an audited operation was for (workload key calls,
    // attestations, key releases), `sha384:<hex>`.
    r"
    ALTER TABLE audit ADD COLUMN guest TEXT;
",
    // v10: keys pending deletion by the end of their window, so that the deletion sweep
    // (at every start and hourly) does not read every key (issue 7: start-up must not grow
    // with the number of keys).
    r"
    CREATE INDEX keys_pending_deletion ON keys (delete_at) WHERE state = 'pending-deletion';
",
    // v11: a revision per key, incremented by every change to it. A change decided on a
    // read of the key commits only while the key is still at the revision read
    // (compare-and-set), so that concurrent administrators never silently revert each
    // other's changes (issue 16). Existing keys start at 0.
    r"
    ALTER TABLE keys ADD COLUMN revision INTEGER NOT NULL DEFAULT 0 CHECK (revision >= 0);
",
    // v12: linked checkpoints (issue 16): each signs the digest of the checkpoint before it
    // (`prev`, 48 bytes). Checkpoints stored before have none: they are the chain's legacy
    // start, each verified by its own signature; the first linked one links to the last.
    r"
    ALTER TABLE audit_checkpoints ADD COLUMN prev BLOB
        CHECK (prev IS NULL OR length(prev) = 48);
",
    // v13: access keys of the AWS KMS-compatible endpoint (issue 18): the secret sealed
    // (AES-256-GCM) under the token key `key_label`, with the id as associated data.
    r"
    CREATE TABLE access_keys (
        id         TEXT PRIMARY KEY,
        principal  TEXT NOT NULL,
        role       TEXT NOT NULL,
        tenant     TEXT,
        created_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        key_label  TEXT NOT NULL,
        nonce      BLOB NOT NULL CHECK (length(nonce) = 12),
        sealed     BLOB NOT NULL,
        revoked_ms INTEGER,
        revoked_by TEXT,
        reason     TEXT
    ) STRICT;
    CREATE INDEX access_keys_by_principal ON access_keys (lower(principal));
",
    // v14: sealed key and alias rows (issue 16): each row carries an HMAC-SHA-384 tag by the
    // token-held record key (`kastell-record-mac`) over its canonical encoding, written by
    // the key service with every change and checked at every read. Rows stored before have
    // none; the first start with the record key seals them once (trust on first use).
    r"
    ALTER TABLE keys ADD COLUMN seal BLOB;
    ALTER TABLE aliases ADD COLUMN seal BLOB;
",
    // v15: every key type (issue 17). `HMAC_SHA384` keys are called `HMAC_384` (AWS KMS's
    // name; the old name is still read), and a key's usage, chosen at creation among those
    // its spec allows, is stored (keys before had their spec's only usage).
    r"
    UPDATE keys SET spec = 'HMAC_384' WHERE spec = 'HMAC_SHA384';
    ALTER TABLE keys ADD COLUMN usage TEXT;
    UPDATE keys SET usage = CASE spec
        WHEN 'AES_256' THEN 'ENCRYPT_DECRYPT'
        WHEN 'ECC_NIST_P384' THEN 'SIGN_VERIFY'
        WHEN 'HMAC_384' THEN 'GENERATE_VERIFY_MAC'
    END;
",
    // v16: automatic rotation (issue 18, AWS KMS's EnableKeyRotation): a key's period and
    // its next rotation (both set or both unset), indexed for the host's sweep; and which
    // versions the sweep made (AWS's `RotationType` AUTOMATIC, the others ON_DEMAND).
    r"
    ALTER TABLE keys ADD COLUMN rotation_period_days INTEGER
        CHECK (rotation_period_days IS NULL OR rotation_period_days > 0);
    ALTER TABLE keys ADD COLUMN next_rotation INTEGER
        CHECK ((next_rotation IS NULL) = (rotation_period_days IS NULL));
    CREATE INDEX keys_rotation_due ON keys (next_rotation) WHERE next_rotation IS NOT NULL;
    ALTER TABLE key_versions ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0
        CHECK (automatic IN (0, 1));
",
    // v17: settings in the audit trail (issue 18): `kastell serve` records a setting that
    // changed since its last record (operation `setting`, e.g. `aws.separation_of_duties =
    // false`); this index holds those records only, so finding the last one reads a few
    // rows at start-up, not the trail.
    r"
    CREATE INDEX IF NOT EXISTS audit_settings ON audit (seq) WHERE operation = 'setting';
",
    // v18: AWS KMS key policies (issue 19): the JSON document a key's `PutKeyPolicy` or
    // `CreateKey` set, NULL for AWS's default policy. The key's seal covers its SHA-384.
    r"
    ALTER TABLE keys ADD COLUMN key_policy TEXT;
",
    // v19: shared state in the store (issue 20). Release challenges (single-use nonces,
    // taken by one DELETE so that a nonce works once whichever host issued it); policies
    // and workloads by measurement (the registry's files are imported at open); and the
    // change counter, incremented by every change a host may hold in memory, which hosts
    // read to learn of other hosts' changes.
    r"
    CREATE TABLE IF NOT EXISTS release_challenges (
        nonce      BLOB PRIMARY KEY,
        key_id     TEXT NOT NULL,
        principal  TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS release_challenges_by_expiry ON release_challenges (expires_ms);
    CREATE INDEX IF NOT EXISTS release_challenges_by_principal ON release_challenges (principal);
    CREATE TABLE IF NOT EXISTS components (
        kind        TEXT NOT NULL CHECK (kind IN ('policy', 'workload')),
        measurement TEXT NOT NULL CHECK (length(measurement) = 96),
        bytes       BLOB NOT NULL,
        added_ms    INTEGER NOT NULL,
        PRIMARY KEY (kind, measurement)
    ) STRICT;
    CREATE TABLE IF NOT EXISTS kastell_changes (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        seq INTEGER NOT NULL CHECK (seq >= 0)
    ) STRICT;
    INSERT OR IGNORE INTO kastell_changes (one, seq) VALUES (1, 0);
",
    // v20: AWS KMS grants (issue 19): a key's grants as one JSON array, NULL when it has
    // none. The key's seal covers their canonical encoding.
    r"
    ALTER TABLE keys ADD COLUMN grants TEXT;
",
    // v21: imported key material (issue 19, AWS KMS's ImportKeyMaterial): an `external`
    // key's material id (kept when the material is deleted, so that only the same
    // material is imported again) and when the material expires (NULL: never, or no
    // material), indexed for the host's expiry sweep. The key's seal covers both.
    r"
    ALTER TABLE keys ADD COLUMN material_id BLOB
        CHECK (material_id IS NULL OR length(material_id) = 32);
    ALTER TABLE keys ADD COLUMN material_expires INTEGER
        CHECK (material_expires IS NULL OR material_id IS NOT NULL);
    CREATE INDEX keys_material_expiry ON keys (material_expires)
        WHERE material_expires IS NOT NULL;
",
    // v22: the latest changes by counter value (issue 22), so that a host reading the
    // change counter (SQLite sends no notices) drops only what changed, not everything.
    // Each change inserts its row in its own transaction and prunes rows far behind.
    r"
    CREATE TABLE IF NOT EXISTS kastell_change_log (
        seq  INTEGER PRIMARY KEY,
        what TEXT NOT NULL
    ) STRICT;
",
    // v23: rotation of imported key material (issue 19, AWS KMS's ImportKeyMaterial with
    // NEW_KEY_MATERIAL, RotateKeyOnDemand on an EXTERNAL key): an imported key's
    // materials as one JSON array (id, version or pending rotation, description, expiry,
    // the pending material wrapped by the master key), NULL for keys that list none; the
    // key's seal covers their canonical encoding. Indexed for the expiry sweep.
    r"
    ALTER TABLE keys ADD COLUMN materials TEXT;
    CREATE INDEX keys_with_materials ON keys (id) WHERE materials IS NOT NULL;
",
];

//! `kastell-scale`: fills an existing deployment (made by `kastell init`) with many keys,
//! for the scale benchmark (`scripts/bench-scale`).
//!
//! It adds `--keys` AES_256 keys of origin `wrapped`, each exactly as `kastell key create
//! --spec AES_256 --origin wrapped` would make it: 32 fresh random bytes wrapped under the
//! deployment's master key (`kastell-master`) by the token, one version, enabled, the
//! `--policy` bound if given (it must be in the deployment's registry), and a `create-key`
//! audit record (principal `--principal`, version 1, the policy) chained after the
//! trail's head. Keys are written `--batch` at a time, each batch in one transaction
//! ([`kastell_core::store::SqliteStore::import_keys`]); after each batch the trail's head is
//! signed with the audit signing key, as the server signs its checkpoints, so `kastell
//! audit verify` passes afterwards. Progress goes to standard error.
//!
//! The server must not be running: the import holds the store's write lock for a whole
//! batch. The deployment is opened like `kastell` opens it: `--config` (and
//! `--data-dir`), the soft token's passphrase or the PKCS#11 PIN from the configured
//! secret file or `KASTELL_SOFT_TOKEN_PASSPHRASE` / `KASTELL_PIN`. A missing store or soft
//! token is an error: nothing new is created.
//!
//! With `--ids FILE`, the new keys' ids are written one per line, in random order; with
//! `--sample M` too, only M of them, drawn uniformly (reservoir sampling): a spread of
//! keys for `kastell-load --paths`.
//!
//! ```text
//! kastell-scale --config data/kastell.toml --keys 1000000 --policy sha384:… \
//!     --ids ids.txt --sample 10000
//! ```

use kastell_proto::{KeyId, KeySpec, KeyUsage, Origin};
use std::error::Error;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use kastell_attest::Measurement;
use kastell_core::audit::{AuditEntry, Checkpoint, NO_CHECKPOINT, Outcome};
use kastell_core::config::Config;
use kastell_core::crypto::{AwsLc, CryptoProvider as _};
use kastell_core::deployment::{
    Deployment, PASSPHRASE_ENV, PIN_ENV, SOFT_TOKEN_FILE, STORE_FILE, TokenChoice,
};
use kastell_core::keys::{
    KeyRecord, KeyState, KeyVersion, Material, RecordKey, ServiceKeys, unix_now, unix_now_ms,
};
use kastell_core::registry::PolicyRegistry;
use kastell_core::secret::SecretBytes;
use kastell_core::store::{SqliteStore, Store as _};
use kastell_core::token::{KdfCost, Pkcs11Config, Token};

/// Errors of this tool: a message for the user.
type BoxError = Box<dyn Error + Send + Sync>;

/// The most keys one run adds.
const MAX_KEYS: u64 = 10_000_000;
/// The largest batch (keys per transaction).
const MAX_BATCH: u64 = 1_000_000;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Fills an existing Kastell deployment with many wrapped AES_256 keys (benchmarks)"
)]
struct Args {
    /// Configuration file of the deployment (`kastell.toml`, written by `kastell init`).
    #[arg(long, env = "KASTELL_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration's `data_dir`).
    #[arg(long, env = "KASTELL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keys to add (at most 10 million).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_KEYS))]
    keys: u64,
    /// Keys per transaction.
    #[arg(long, default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH))]
    batch: u64,
    /// Policy to bind to every key, `sha384:<hex>` (must be in the deployment's registry,
    /// e.g. through `kastell policy add` or `policy push`).
    #[arg(long)]
    policy: Option<Measurement>,
    /// Principal named in the keys' `create-key` audit records.
    #[arg(long, default_value = "bench-import")]
    principal: String,
    /// Write the new keys' ids here, one per line.
    #[arg(long)]
    ids: Option<PathBuf>,
    /// With --ids: write only this many ids, drawn uniformly at random from the new keys.
    #[arg(long, requires = "ids", value_parser = clap::value_parser!(u64).range(1..))]
    sample: Option<u64>,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kastell-scale: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The deployment's store and token, and the labels of the service keys.
struct Opened {
    data_dir: PathBuf,
    store: SqliteStore,
    token: Arc<dyn Token>,
    keys: ServiceKeys,
}

fn run(args: &Args) -> Result<(), BoxError> {
    let opened = open(args)?;
    let started = Instant::now();
    let batch = usize::try_from(args.batch)?;
    let kept = match (&args.ids, args.sample) {
        (None, _) => 0,
        (Some(_), None) => usize::MAX,
        (Some(_), Some(m)) => usize::try_from(m).unwrap_or(usize::MAX),
    };
    let mut sample = Sample::new(kept)?;
    let mut added = 0u64;
    let mut last_seq = 0;
    while added < args.keys {
        let size = usize::try_from(args.keys - added)
            .unwrap_or(usize::MAX)
            .min(batch);
        let keys = (0..size)
            .map(|_| new_key(&opened, args))
            .collect::<Result<Vec<_>, BoxError>>()?;
        last_seq = opened.store.import_keys(&keys)?;
        for (key, _) in &keys {
            sample.offer(key.id);
        }
        added += size as u64;
        let checkpoint = sign_head(&opened)?;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "kastell-scale: {added}/{} keys, audit record {last_seq}{}, {secs:.1} s \
             ({:.0} keys/s)",
            args.keys,
            if checkpoint { " signed" } else { "" },
            added as f64 / secs.max(1e-9),
        );
    }
    if let Some(path) = &args.ids {
        let ids = sample.into_ids();
        write_ids(path, &ids)?;
        eprintln!(
            "kastell-scale: {} key ids written to {}",
            ids.len(),
            path.display()
        );
    }
    eprintln!(
        "kastell-scale: {added} keys added in {:.1} s; audit trail ends at record {last_seq}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Opens the deployment `args` names: its existing store and token, the master key
/// present, the policy (if any) in its registry.
fn open(args: &Args) -> Result<Opened, BoxError> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(dir) = &args.data_dir {
        config.data_dir = Some(dir.clone());
    }
    config.validate("configuration")?;
    let data_dir = config
        .data_dir
        .clone()
        .ok_or("no data directory: give --config or --data-dir")?;
    let store_file = data_dir.join(STORE_FILE);
    if !store_file.is_file() {
        return Err(format!(
            "no Kastell store at {} (run `kastell init` first)",
            store_file.display()
        )
        .into());
    }
    let secret_file = config.token.secret_file.as_deref();
    let token = match (&config.token.pkcs11_module, &config.token.label) {
        (Some(module), Some(label)) => TokenChoice::Pkcs11(Pkcs11Config {
            module: module.clone(),
            token_label: label.clone(),
            pin: Pkcs11Config::read_pin(secret_file, PIN_ENV)?,
        }),
        (Some(_), None) => return Err("token.pkcs11_module needs token.label".into()),
        (None, _) => {
            let file = data_dir.join(SOFT_TOKEN_FILE);
            if !file.is_file() {
                return Err(format!("no soft token at {}", file.display()).into());
            }
            TokenChoice::Soft {
                passphrase: Pkcs11Config::read_pin(secret_file, PASSPHRASE_ENV).map_err(|e| {
                    format!("the soft token's passphrase: {e} (or set {PASSPHRASE_ENV})")
                })?,
                cost: KdfCost::Strong,
            }
        }
    };
    let deployment = Deployment {
        store: kastell_core::deployment::StoreChoice::Sqlite,
        data_dir: data_dir.clone(),
        token,
    };
    let keys = ServiceKeys::default();
    let token = deployment.open_token()?;
    if !token.contains(&keys.master)? {
        return Err(format!(
            "the token holds no master key `{}`: not a deployment made by `kastell init`",
            keys.master
        )
        .into());
    }
    if !token.contains(&keys.record_mac)? {
        return Err(format!(
            "the token holds no record key `{}`: start `kastell serve` once first (it \
             creates the key and seals the stored key records)",
            keys.record_mac
        )
        .into());
    }
    if let Some(policy) = &args.policy {
        let shared: std::sync::Arc<dyn kastell_core::store::Store> =
            std::sync::Arc::new(SqliteStore::open(&store_file)?);
        PolicyRegistry::open(shared, &data_dir.join("policies"))?
            .get(policy)
            .map_err(|e| format!("--policy {policy}: {e}"))?;
    }
    let store = SqliteStore::open(&store_file)?;
    Ok(Opened {
        data_dir,
        store,
        token,
        keys,
    })
}

/// A new AES_256 key wrapped under the master key, and the audit entry of its creation.
fn new_key(opened: &Opened, args: &Args) -> Result<(KeyRecord, AuditEntry), BoxError> {
    let mut bytes = [0u8; 32];
    AwsLc.fill_random(&mut bytes)?;
    let secret = SecretBytes::from_slice(&bytes);
    bytes.fill(0);
    let wrapped = opened.token.wrap(&opened.keys.master, &secret)?;
    let created = unix_now();
    let mut key = KeyRecord {
        id: KeyId::random(),
        spec: KeySpec::Aes256,
        usage: KeyUsage::of(KeySpec::Aes256),
        origin: Origin::Wrapped,
        state: KeyState::Enabled,
        description: String::new(),
        tags: std::collections::BTreeMap::new(),
        policy: args.policy,
        created,
        min_decrypt_version: 1,
        versions: vec![KeyVersion {
            number: 1,
            created,
            material: Material::Wrapped {
                master: opened.keys.master.clone(),
                wrapped,
            },
            automatic: false,
        }],
        releasable: false,
        revision: 0,
        seal: None,
        rotation: None,
        key_policy: None,
        grants: Vec::new(),
        imported: None,
        materials: Vec::new(),
    };
    // Sealed as the key service seals a new key: the server refuses an unsealed record.
    let record_key = RecordKey::new(Arc::clone(&opened.token), opened.keys.record_mac.clone());
    key.seal = Some(record_key.seal_key(&key)?);
    let entry = AuditEntry {
        time_ms: unix_now_ms(),
        principal: args.principal.clone(),
        operation: "create-key".into(),
        key: Some(key.id),
        key_version: Some(1),
        policy: key.policy,
        outcome: Outcome::Allowed,
        reason: String::new(),
        context_hmac: None,
        guest: None,
    };
    Ok((key, entry))
}

/// Signs the trail's head with the audit signing key, linked to the newest checkpoint,
/// unless that one covers it, and keeps it in the anchor file (as `KeyService::checkpoint`
/// does, without re-verifying the records just written); whether one was signed.
fn sign_head(opened: &Opened) -> Result<bool, BoxError> {
    let Some((seq, hash)) = opened.store.audit_head()? else {
        return Ok(false);
    };
    let newest = opened.store.last_checkpoint()?;
    if newest.as_ref().is_some_and(|last| last.seq >= seq) {
        return Ok(false);
    }
    let mut checkpoint = Checkpoint {
        seq,
        hash,
        time_ms: unix_now_ms(),
        key_label: opened.keys.audit_signing.clone(),
        prev: Some(newest.as_ref().map_or(NO_CHECKPOINT, Checkpoint::digest)),
        signature: Vec::new(),
    };
    checkpoint.signature = opened
        .token
        .sign_digest(&opened.keys.audit_signing, &checkpoint.digest())?;
    let anchor = kastell_core::keys::anchor_path(&opened.data_dir);
    if !anchor.exists() {
        // As the service does: the anchor exists before the first linked checkpoint.
        kastell_core::files::write_atomic(&anchor, b"")?;
    }
    if !opened.store.add_checkpoint(&checkpoint)? {
        return Ok(false);
    }
    kastell_core::keys::write_anchor(&anchor, &checkpoint)?;
    Ok(true)
}

/// A uniform random sample of at most `size` ids (reservoir sampling, algorithm R).
struct Sample {
    size: usize,
    seen: u64,
    ids: Vec<KeyId>,
    rng: SplitMix64,
}

impl Sample {
    fn new(size: usize) -> Result<Self, BoxError> {
        let mut seed = [0u8; 8];
        AwsLc.fill_random(&mut seed)?;
        Ok(Self {
            size,
            seen: 0,
            ids: Vec::new(),
            rng: SplitMix64(u64::from_le_bytes(seed)),
        })
    }

    fn offer(&mut self, id: KeyId) {
        self.seen += 1;
        if self.ids.len() < self.size {
            self.ids.push(id);
        } else {
            let slot = self.rng.below(self.seen);
            if let Some(kept) = usize::try_from(slot)
                .ok()
                .and_then(|slot| self.ids.get_mut(slot))
            {
                *kept = id;
            }
        }
    }

    /// The sample, shuffled (Fisher–Yates) so that its order is random too.
    fn into_ids(mut self) -> Vec<KeyId> {
        for i in (1..self.ids.len()).rev() {
            let j = usize::try_from(self.rng.below(i as u64 + 1)).unwrap_or(i);
            self.ids.swap(i, j);
        }
        self.ids
    }
}

/// SplitMix64: a small, fast generator (sampling only, nothing secret).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0), with negligible bias for the sizes used here.
    fn below(&mut self, n: u64) -> u64 {
        u64::try_from((u128::from(self.next()) * u128::from(n)) >> 64).unwrap_or(0)
    }
}

/// Writes `ids` to `path`, one per line.
fn write_ids(path: &Path, ids: &[KeyId]) -> Result<(), BoxError> {
    let file =
        std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for id in ids {
        writeln!(out, "{id}")?;
    }
    out.flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_holds_distinct_offered_ids_up_to_its_size() {
        let offered: Vec<KeyId> = (0..1000).map(|_| KeyId::random()).collect();
        for size in [0, 1, 10, 1000, usize::MAX] {
            let mut sample = Sample::new(size).expect("random seed");
            for id in &offered {
                sample.offer(*id);
            }
            let mut ids = sample.into_ids();
            assert_eq!(ids.len(), size.min(offered.len()));
            assert!(ids.iter().all(|id| offered.contains(id)));
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), size.min(offered.len()));
        }
    }

    #[test]
    fn below_stays_below() {
        let mut rng = SplitMix64(7);
        assert!((0..10_000).all(|_| rng.below(3) < 3));
        assert_eq!(rng.below(1), 0);
    }
}

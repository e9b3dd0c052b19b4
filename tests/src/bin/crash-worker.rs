//! A worker for the crash-consistency test: opens a deployment on the soft token and runs
//! key creations, rotations, deletions and destructions in a loop while [`ENCRYPTORS`]
//! threads encrypt concurrently (their audit records are committed in groups), printing
//! one line per acknowledged operation, until it is killed.
//!
//! Usage: `crash-worker <data-dir> <seed>`; passphrase in `KASTELL_SOFT_TOKEN_PASSPHRASE`.
//! Lines: `created <id> <origin>`, `rotated <id> <version>`, `scheduled <id>`,
//! `cancelled <id>`, `destroyed <id>`, `encrypted <id>`.

use kastell_proto::{EncryptionContext, KeySpec, Origin, Role};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use kastell_core::deployment::{Deployment, TokenChoice};
use kastell_core::keys::{Caller, KeyService, NewKey, unix_now};

use kastell_core::token::KdfCost;

/// Threads encrypting beside the administration loop.
const ENCRYPTORS: usize = 4;

fn officer() -> Caller {
    Caller {
        id: "crash-worker".into(),
        roles: vec![Role::CryptoOfficer, Role::CryptoUser],
        tenant: None,
        evidence: None,
    }
}

fn new_key(spec: KeySpec, origin: Origin) -> NewKey {
    NewKey {
        spec,
        usage: None,
        origin,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    }
}

/// Encrypts under `key` until killed (bounded), printing each acknowledged encryption.
fn encrypt_loop(service: &KeyService, key: &str) -> Result<(), String> {
    let context = EncryptionContext(BTreeMap::from([("run".to_owned(), "crash".to_owned())]));
    for _ in 0..1_000_000 {
        service
            .encrypt(&officer(), key, b"acknowledged", &context)
            .map_err(|e| e.to_string())?;
        println!("encrypted {key}");
    }
    Ok(())
}

/// A small deterministic generator (xorshift); the seed varies the operation mix.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn step(service: &KeyService, mix: &mut Mix, keys: &mut Vec<String>) -> Result<(), String> {
    let officer = officer();
    let choice = if keys.is_empty() { 0 } else { mix.next() % 10 };
    let pick = |mix: &mut Mix, keys: &Vec<String>| {
        let len = u64::try_from(keys.len()).unwrap_or(1).max(1);
        keys[usize::try_from(mix.next() % len).unwrap_or(0)].clone()
    };
    match choice {
        0..=3 => {
            let origin = if mix.next().is_multiple_of(2) {
                Origin::Wrapped
            } else {
                Origin::Token
            };
            let spec = [KeySpec::Aes256, KeySpec::EccNistP384, KeySpec::HmacSha384]
                [usize::try_from(mix.next() % 3).unwrap_or(0)];
            let key = service
                .create_key(&officer, new_key(spec, origin), None)
                .map_err(|e| e.to_string())?;
            println!("created {} {origin:?}", key.id);
            keys.push(key.id.to_string());
        }
        4..=6 => {
            let id = pick(mix, keys);
            if let Ok(key) = service.rotate(&officer, &id) {
                let version = key.current().map_or(0, |v| v.number);
                println!("rotated {id} {version}");
            }
        }
        7 => {
            let id = pick(mix, keys);
            if service.schedule_deletion(&officer, &id, 7).is_ok() {
                println!("scheduled {id}");
            }
        }
        8 => {
            let id = pick(mix, keys);
            if service.cancel_deletion(&officer, &id).is_ok() {
                println!("cancelled {id}");
            }
        }
        _ => {
            // As if the deletion windows had ended: 31 days from now.
            for id in service
                .destroy_due(unix_now() + 31 * 86_400)
                .map_err(|e| e.to_string())?
            {
                println!("destroyed {id}");
                keys.retain(|k| *k != id.to_string());
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(seed)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: crash-worker <data-dir> <seed>");
        return ExitCode::from(2);
    };
    let passphrase = std::env::var("KASTELL_SOFT_TOKEN_PASSPHRASE").unwrap_or_default();
    let deployment = Deployment {
        store: kastell_core::deployment::StoreChoice::Sqlite,
        data_dir: PathBuf::from(dir),
        token: TokenChoice::Soft {
            passphrase: passphrase.into(),
            cost: KdfCost::Interactive,
        },
    };
    let service = match deployment.open() {
        Ok(service) => service.with_checkpoint_every(10),
        Err(err) => {
            eprintln!("crash-worker: {err}");
            return ExitCode::from(3);
        }
    };
    // The encryptors' key is not in the administration loop's list: never deleted.
    let encryption_key =
        match service.create_key(&officer(), new_key(KeySpec::Aes256, Origin::Wrapped), None) {
            Ok(key) => key.id.to_string(),
            Err(err) => {
                eprintln!("crash-worker: {err}");
                return ExitCode::from(3);
            }
        };
    println!("created {encryption_key} Wrapped");
    println!("ready");
    let failed = std::thread::scope(|scope| {
        let encryptors: Vec<_> = (0..ENCRYPTORS)
            .map(|_| scope.spawn(|| encrypt_loop(&service, &encryption_key)))
            .collect();
        let mut mix = Mix(seed | 1);
        let mut keys = Vec::new();
        // Bounded: the parent kills the worker long before this ends.
        let mut outcome = (0..100_000).try_for_each(|_| step(&service, &mut mix, &mut keys));
        for encryptor in encryptors {
            let done = encryptor
                .join()
                .unwrap_or_else(|_| Err("an encryptor panicked".into()));
            outcome = outcome.and(done);
        }
        outcome.err()
    });
    if let Some(err) = failed {
        eprintln!("crash-worker: {err}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

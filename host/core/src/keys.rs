//! Keys: the key model. Operations, policy gating and audit build on it.

mod access_keys;
mod admin;
pub mod algorithms;
mod aliases;
mod asymmetric;
mod audited;
mod cache;
mod create;
mod deferred;
mod describe;
mod destruction;
mod dry_run;
mod encryption;
mod error;
mod gate;
mod generate;
mod grants;
pub mod import;
mod key_policy;
mod metadata;
mod records;
mod reencrypt;
mod release;
mod rotation;
mod seal;
mod service;
mod settings;
mod signing;
mod trail;

pub use crate::model::{
    Alias, AliasError, AliasRow, ImportedMaterial, KeyMaterial, KeyRecord, KeyState, KeyVersion,
    Material, RotationSchedule, token_label,
};
pub use access_keys::{ACCESS_KEY_RECHECK, AccessKeyIdentity, IssuedAccessKey};
pub use admin::{DELETION_WINDOW_DAYS, MAX_TAGS};
pub use asymmetric::{DataKeyPair, Encrypted};
pub use cache::{KeyCache, KeyCacheLimits};
pub use deferred::{Deferred, defer};
pub use describe::MAX_LIST;
pub use destruction::SYSTEM_PRINCIPAL;
pub use dry_run::DryRun;
pub use generate::{DataKey, MAX_RANDOM};
pub use grants::{GrantRef, KeyGrant, MAX_GRANTS};
pub use kastell_proto::api::{KeyDescription, VersionDescription};
pub use key_policy::{AwsNames, LOCKOUT, action_of};
pub use metadata::{KeyRecordCache, RECORD_CACHE_ENTRIES};
pub use records::{SEAL_RECORDS, VERIFY_RECORD};
pub use reencrypt::{ReEncryptSide, ReEncrypted};
pub use release::{ReleaseKind, ReleaseRequest, Released};
pub use rotation::{DEFAULT_ROTATION_PERIOD_DAYS, ROTATION_PERIOD_DAYS};
pub use seal::{RecordKey, SEAL_LEN};
pub use service::{
    Caller, DEFAULT_CHECKPOINT_EVERY, KeyError, KeyService, NewKey, ServiceKeys, unix_now,
    unix_now_ms,
};
pub use signing::{PublicKeyOut, SignInput, SignatureOut, spki_pem};
pub use trail::{KeptCheckpoints, anchor_path, describe, verify_trail, write_anchor};

//! Keys: the key model. Operations, policy gating and audit build on it.

pub mod ciphertext;
mod model;
mod service;

pub use model::{
    Alias, AliasError, KeyId, KeyRecord, KeyState, KeyUsage, KeyVersion, Material, Origin,
};
pub use service::{Caller, KeyError, KeyService, NewKey, ServiceKeys};

//! Keys: the key model. Operations, policy gating and audit build on it.

mod admin;
pub mod ciphertext;
mod model;
mod service;
mod signing;

pub use model::{
    Alias, AliasError, KeyId, KeyRecord, KeyState, KeyUsage, KeyVersion, Material, Origin,
};
pub use service::{Caller, KeyError, KeyService, NewKey, ServiceKeys};
pub use signing::{PublicKeyOut, SignInput, SignatureOut};

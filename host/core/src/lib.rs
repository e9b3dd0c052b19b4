#![doc = include_str!("../README.md")]
#![deny(unsafe_code)] // Only `sandbox::artifacts` (Component::deserialize) holds unsafe code.

pub mod audit;
pub mod backup;
pub mod ca;
pub mod clients;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod deployment;
pub mod files;
pub mod keys;
pub mod manual;
pub mod metrics;
pub mod model;
pub mod quorum;
pub mod registry;
pub mod sandbox;
pub mod secret;
pub mod store;
pub mod token;

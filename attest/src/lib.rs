#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod ca;
pub mod claims;
pub mod country;
pub mod document;
pub mod hpke;
pub mod identity;
pub mod signer;
pub mod verify;
pub mod x509;

pub use kastell_proto::measurement::{Measurement, ParseMeasurementError};

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod measurement;

pub use measurement::{Measurement, ParseMeasurementError};

//! Secret values: the project's one idiom, [`SecretBytes`] from `kastell-proto` (zeroized
//! on drop, redacted in `Debug`, compared in constant time), re-exported here where the
//! host's keys, tokens and providers use it.

pub use kastell_proto::secret::SecretBytes;

//! A wrong PIN is refused. In its own test binary (its own process): PKCS#11 login state
//! is shared by every session of a process, so once any test logged in, `C_Login` answers
//! "already logged in" whatever the PIN.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use cryptoki::error::{Error, RvError};
use kastell_core::token::{Pkcs11Token, TokenError};
use kastell_tests::softhsm_config;
use secrecy::SecretString;

#[test]
fn softhsm_wrong_pin_is_refused_then_right_pin_works() {
    let mut config = softhsm_config();
    let right = std::mem::replace(&mut config.pin, SecretString::from("99999999"));
    let err = Pkcs11Token::open(&config).expect_err("wrong PIN");
    assert!(
        matches!(
            err,
            TokenError::Pkcs11(Error::Pkcs11(RvError::PinIncorrect, _))
        ),
        "{err}"
    );
    config.pin = right;
    Pkcs11Token::open(&config).expect("right PIN");
}

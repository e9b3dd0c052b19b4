//! `openssl speed` in the same run as Kastell's rows: AES-256-GCM at the benchmark's sizes
//! and ECDSA P-384 sign/verify, parsed from its machine-readable output.

use std::collections::BTreeMap;
use std::process::Command;

use super::{AES_SIZES, Reference, Tally};

/// `openssl speed` figures pooled over the rounds.
#[derive(Default)]
pub(crate) struct OpenSsl {
    /// AES-256-GCM encryptions per second, per buffer size.
    aes: BTreeMap<usize, Tally>,
    sign: Tally,
    verify: Tally,
    /// `-bytes N` works (OpenSSL ≥ 3.0); otherwise the standard sizes are run.
    pub(crate) custom_sizes: bool,
}

pub(crate) fn openssl_speed(args: &[&str]) -> Option<String> {
    let out = Command::new("openssl")
        .args(["speed", "-mr", "-elapsed", "-seconds", "1"])
        .args(args)
        .output()
        .ok()?;
    // The per-test `+DT`/`+R` lines go to stderr, the summary to stdout.
    out.status.success().then(|| {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        text
    })
}

impl OpenSsl {
    /// Figures to be measured, trying `-bytes N` first.
    pub(crate) fn new() -> Self {
        Self {
            custom_sizes: true,
            ..Self::default()
        }
    }

    /// Runs `openssl speed -evp aes-256-gcm` (machine-readable: `+DT:name:secs:size` then
    /// `+R:count:name:secs`).
    pub(crate) fn run_aes(&mut self) {
        let mut outputs = Vec::new();
        if self.custom_sizes {
            for size in AES_SIZES {
                let bytes = size.to_string();
                match openssl_speed(&["-bytes", &bytes, "-evp", "aes-256-gcm"]) {
                    Some(out) => outputs.push(out),
                    None => {
                        self.custom_sizes = false;
                        outputs.clear();
                        break;
                    }
                }
            }
        }
        if !self.custom_sizes {
            outputs.extend(openssl_speed(&["-evp", "aes-256-gcm"]));
        }
        for out in outputs {
            let mut size = None;
            for line in out.lines() {
                let fields: Vec<&str> = line.split(':').collect();
                match fields.as_slice() {
                    ["+DT", _, _, s] => size = s.parse().ok(),
                    ["+R", count, _, secs] => {
                        let (Some(size), Ok(count), Ok(secs)) =
                            (size, count.parse::<u64>(), secs.parse::<f64>())
                        else {
                            continue;
                        };
                        if AES_SIZES.contains(&size) {
                            self.aes.entry(size).or_default().add(count, secs);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Runs `openssl speed ecdsap384` (machine-readable: `+R5:count:bits:secs` for sign,
    /// `+R6:…` for verify).
    pub(crate) fn run_ecdsa(&mut self) {
        let Some(out) = openssl_speed(&["ecdsap384"]) else {
            return;
        };
        for line in out.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if let [tag @ ("+R5" | "+R6"), count, _, secs] = fields.as_slice()
                && let (Ok(count), Ok(secs)) = (count.parse::<u64>(), secs.parse::<f64>())
            {
                let tally = if *tag == "+R5" {
                    &mut self.sign
                } else {
                    &mut self.verify
                };
                tally.add(count, secs);
            }
        }
    }

    pub(crate) fn reference(&self, reference: Reference) -> Option<&Tally> {
        let tally = match reference {
            Reference::Aes(size) => self.aes.get(&size)?,
            Reference::Sign => &self.sign,
            Reference::Verify => &self.verify,
        };
        (tally.ops > 0).then_some(tally)
    }
}

pub(crate) fn openssl_version() -> Option<String> {
    let out = Command::new("openssl").arg("version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

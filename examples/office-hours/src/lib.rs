//! Sign only inside a weekly time window read from the key's tags (UTC, request time):
//! `office-hours.start` and `office-hours.end` as `HH:MM`, optional `office-hours.days` as
//! `mon-fri` (the default) or `mon-sun`. Verifying and reading the public key are public
//! acts, allowed at any time; everything else is denied.

// No std on wasm: no WASI imports, one core instance, a bump allocator (see
// `kastell_guest::bare`); a cheaper fresh instance per evaluation.
#![cfg_attr(target_arch = "wasm32", no_std)]

use kastell_guest::prelude::*;

struct OfficeHours;

/// Minutes since midnight for `HH:MM`.
fn minutes(text: &str) -> Option<u64> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Policy for OfficeHours {
    fn evaluate(req: Request) -> Decision {
        match req.operation {
            Operation::Verify | Operation::GetPublicKey => return allow(),
            Operation::Sign => {}
            _ => return deny("office-hours permits only sign, verify and get-public-key"),
        }
        let window = (
            req.key_tag("office-hours.start").and_then(minutes),
            req.key_tag("office-hours.end").and_then(minutes),
        );
        let (Some(start), Some(end)) = window else {
            return deny("key lacks valid office-hours.start/end tags (HH:MM)");
        };
        let weekends = match req.key_tag("office-hours.days").unwrap_or("mon-fri") {
            "mon-fri" => false,
            "mon-sun" => true,
            _ => return deny("office-hours.days must be mon-fri or mon-sun"),
        };
        let days = req.time / 86_400;
        let weekday = (days + 3) % 7; // 1970-01-01 was a Thursday; 0 = Monday.
        let now = (req.time % 86_400) / 60;
        if weekday >= 5 && !weekends {
            deny("outside office days")
        } else if (start..end).contains(&now) {
            allow()
        } else {
            deny("outside office hours")
        }
    }
}

export_policy!(OfficeHours, no_std);

//! Tries to carry data from one evaluation to the next, in a static (data/bss) and on the
//! heap. In a fresh, reset instance it never finds what an earlier evaluation left.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use kastell_guest::prelude::*;

static EVALUATIONS: AtomicU64 = AtomicU64::new(0);
static LAST_PRINCIPAL: Mutex<String> = Mutex::new(String::new());

struct Hoarder;

impl Policy for Hoarder {
    fn evaluate(req: Request) -> Decision {
        let seen = EVALUATIONS.fetch_add(1, Ordering::SeqCst);
        let mut last = LAST_PRINCIPAL.lock().unwrap_or_else(|e| e.into_inner());
        let previous = std::mem::replace(&mut *last, req.principal.id.clone());
        if seen == 0 && previous.is_empty() {
            deny("fresh")
        } else {
            deny(format!(
                "state survived: evaluation {seen}, previous principal {previous}"
            ))
        }
    }
}

export_policy!(Hoarder);

//! Reads a file and the wall clock: imports that no policy may have.

use kastell_guest::prelude::*;

struct Snoop;

impl Policy for Snoop {
    fn evaluate(_req: Request) -> Decision {
        let secrets = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
        let now = std::time::SystemTime::now();
        if secrets.is_empty() && now.elapsed().is_ok() {
            allow()
        } else {
            deny(secrets)
        }
    }
}

export_policy!(Snoop);

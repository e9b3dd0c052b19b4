//! The checks around a copy: the plan (every table known, the same columns on both sides,
//! an empty target) and the audit trail verified as one side sees it.

use super::endpoint::Endpoint;
use super::{COPIED_TABLES, CopyError, NOT_COPIED, SignatureCheck};
use crate::audit::{ChainBreak, TrailReport, TrailVerifier};
use crate::store::StoreError;

/// Audit records read (and verified) per page.
const TRAIL_PAGE: u32 = 10_000;

/// A table to copy: its name, the columns both sides name, the source's rows.
pub(super) type Planned = (&'static str, Vec<String>, u64);

/// The tables to copy with the columns both sides name, and the source's row counts;
/// refuses a non-empty target or schemas that differ.
pub(super) fn plan(
    source: &mut dyn Endpoint,
    target: &mut dyn Endpoint,
) -> Result<Vec<Planned>, CopyError> {
    known_tables_only(source)?;
    known_tables_only(target)?;
    let mut plan = Vec::new();
    for &table in COPIED_TABLES {
        let missing = |side: &str| CopyError::Schema {
            table: table.to_owned(),
            problem: format!("missing in the {side}"),
        };
        let mut from = source.columns(table)?.ok_or_else(|| missing("source"))?;
        let mut to = target.columns(table)?.ok_or_else(|| missing("target"))?;
        from.sort();
        to.sort();
        if from != to {
            return Err(CopyError::Schema {
                table: table.to_owned(),
                problem: format!(
                    "the source has columns {}, the target {}",
                    from.join(", "),
                    to.join(", ")
                ),
            });
        }
        if target.count(table)? > 0 {
            return Err(CopyError::TargetNotEmpty {
                target: target.describe(),
                table: table.to_owned(),
            });
        }
        let rows = source.count(table)?;
        plan.push((table, from, rows));
    }
    Ok(plan)
}

/// Refuses a table this build does not list (the copy would leave it behind).
fn known_tables_only(side: &mut dyn Endpoint) -> Result<(), CopyError> {
    for table in side.tables()? {
        if !COPIED_TABLES.contains(&table.as_str()) && !NOT_COPIED.contains(&table.as_str()) {
            return Err(CopyError::Schema {
                table,
                problem: format!(
                    "{} holds a table this build does not know how to copy (a newer schema?)",
                    side.describe()
                ),
            });
        }
    }
    Ok(())
}

pub(super) enum Verified {
    /// The trail is broken here.
    Broken(ChainBreak),
    /// The trail could not be read.
    Failed(CopyError),
}

impl From<StoreError> for Verified {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.into())
    }
}

/// Verifies the trail as `side` sees it: the checkpoint chain (and signatures, when
/// `signatures` is given), every record's link and hash, every checkpoint against its
/// record.
pub(super) fn verify_trail(
    side: &mut dyn Endpoint,
    signatures: Option<SignatureCheck<'_>>,
) -> Result<TrailReport, Verified> {
    let accept = |_: &[u8; 48], _: &[u8]| true;
    let checkpoints = side.checkpoints()?;
    let mut verifier = match signatures {
        Some(check) => TrailVerifier::new(checkpoints, check),
        None => TrailVerifier::new(checkpoints, accept),
    }
    .map_err(Verified::Broken)?;
    let mut after = 0;
    loop {
        let page = side.audit_page(after, TRAIL_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        verifier.feed(&page).map_err(Verified::Broken)?;
    }
    verifier.finish().map_err(Verified::Broken)
}

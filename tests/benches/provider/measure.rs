//! Side-by-side measurement of two paths doing the same operation: short alternating rounds
//! (the order swapped every round, so a machine drifting in speed hurts both alike), the
//! median of the per-round ratios, and the pooled rates.
//!
//! `BENCH_ROUNDS` (default 12) and `BENCH_SLICE_MS` (default 150) set the rounds and each
//! path's time per round; `BENCH_FILTER` keeps only the rows whose name contains it.

use std::time::{Duration, Instant};

/// How long and how often each pair of paths is measured.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Alternating rounds per row.
    pub rounds: usize,
    /// Each path's time per round.
    pub slice: Duration,
    filter: Option<String>,
}

impl Plan {
    /// The plan the environment asks for.
    pub fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|text| text.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or(default)
        };
        Self {
            rounds: usize::try_from(number("BENCH_ROUNDS", 12)).unwrap_or(12),
            slice: Duration::from_millis(number("BENCH_SLICE_MS", 150)),
            filter: std::env::var("BENCH_FILTER").ok().filter(|f| !f.is_empty()),
        }
    }

    /// Whether the row `name` is to be measured.
    pub fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }

    /// Whether every row is measured (no filter).
    pub fn everything(&self) -> bool {
        self.filter.is_none()
    }
}

/// One row: both paths' pooled rates and the ratio of ours to the bare one.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Bare library, operations per second (mean of the rounds).
    pub bare: f64,
    /// Kastell's path, operations per second.
    pub ours: f64,
    /// Median of the per-round ratios ours / bare.
    pub ratio: f64,
    /// Lowest per-round ratio.
    pub low: f64,
    /// Highest per-round ratio.
    pub high: f64,
}

impl Row {
    /// Whether ours is at least 0.9× bare (the target of issues 7 and 17).
    pub fn met(&self) -> bool {
        self.ratio >= 0.9
    }
}

/// Runs `op` for about `slice`, checking the clock every `batch` calls; operations per
/// second.
fn round(slice: Duration, batch: u64, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < slice {
        for _ in 0..batch {
            op();
        }
        ops += batch;
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Measures `bare` and `ours` in alternating rounds, bare first in even rounds.
pub fn compare(plan: &Plan, mut bare: impl FnMut(), mut ours: impl FnMut()) -> Row {
    // Warm-up (caches, lazily made keys, page faults), which also sizes the batch between
    // clock reads: about 1 ms of work, so that reading the clock costs neither path much.
    let warm = plan.slice / 2;
    let rate = round(warm, 1, &mut bare).min(round(warm, 1, &mut ours));
    let batch = ((rate / 1000.0) as u64).clamp(1, 256);
    let (mut bares, mut ourses) = (Vec::new(), Vec::new());
    for n in 0..plan.rounds {
        if n % 2 == 0 {
            bares.push(round(plan.slice, batch, &mut bare));
            ourses.push(round(plan.slice, batch, &mut ours));
        } else {
            ourses.push(round(plan.slice, batch, &mut ours));
            bares.push(round(plan.slice, batch, &mut bare));
        }
    }
    let ratios: Vec<f64> = ourses.iter().zip(&bares).map(|(k, r)| k / r).collect();
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    Row {
        bare: mean(&bares),
        ours: mean(&ourses),
        ratio: median(ratios.clone()),
        low: ratios.iter().copied().fold(f64::MAX, f64::min),
        high: ratios.iter().copied().fold(0.0, f64::max),
    }
}

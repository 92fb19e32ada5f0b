//! The per-second series behind the throughput-over-time plot: what was answered in each second
//! of a run, warm-up included (and marked), so a stall or a slow start is visible.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::percentiles::new_histogram;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SecondSample {
    /// Seconds since the start of the run (its warm-up included); 1 is the first second.
    pub second: u64,
    pub warmup: bool,
    /// Covers less than a second: the answers that came in after the last full second, while
    /// the run waited for its outstanding requests.
    pub partial: bool,
    /// Successful answers completed in this second: the throughput, in requests/s.
    pub ok: u64,
    /// Failures completed (or arrivals dropped) in this second.
    pub errors: u64,
    pub latency_us_p50: u64,
    pub latency_us_p99: u64,
    pub latency_us_max: u64,
    /// The spawned engine's resident memory at the end of the second.
    #[serde(default)]
    pub engine_rss_bytes: Option<u64>,
    /// The disk its data directory took at the end of the second.
    #[serde(default)]
    pub engine_data_bytes: Option<u64>,
}

/// What one second collects until it is rolled into a sample.
pub struct SecondTally {
    latency_us: Histogram<u64>,
    ok: u64,
    errors: u64,
}

impl Default for SecondTally {
    fn default() -> Self {
        Self { latency_us: new_histogram(), ok: 0, errors: 0 }
    }
}

impl SecondTally {
    pub fn record(&mut self, latency_us: Option<u64>, ok: bool) {
        if let Some(latency_us) = latency_us {
            self.latency_us.saturating_record(latency_us);
        }
        match ok {
            true => self.ok += 1,
            false => self.errors += 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ok == 0 && self.errors == 0
    }

    /// The sample for `second`, leaving the tally empty for the next one.
    pub fn roll(&mut self, second: u64, warmup: bool, partial: bool) -> SecondSample {
        let quantile = |q| match self.latency_us.is_empty() {
            true => 0,
            false => self.latency_us.value_at_quantile(q),
        };
        let sample = SecondSample {
            second,
            warmup,
            partial,
            ok: self.ok,
            errors: self.errors,
            latency_us_p50: quantile(0.50),
            latency_us_p99: quantile(0.99),
            latency_us_max: self.latency_us.max(),
            engine_rss_bytes: None,
            engine_data_bytes: None,
        };
        self.latency_us.reset();
        self.ok = 0;
        self.errors = 0;
        sample
    }
}

/// Joins the series of consecutive runs (find-max steps) into one, renumbering the seconds.
pub fn concatenate<'a>(runs: impl IntoIterator<Item = &'a [SecondSample]>) -> Vec<SecondSample> {
    let mut joined: Vec<SecondSample> = Vec::new();
    for run in runs {
        let offset = joined.last().map_or(0, |sample| sample.second);
        joined.extend(
            run.iter().map(|sample| SecondSample { second: sample.second + offset, ..*sample }),
        );
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roll_reports_the_second_and_empties_the_tally() {
        let mut tally = SecondTally::default();
        for latency_us in 1..=100 {
            tally.record(Some(latency_us), true);
        }
        tally.record(None, false);
        let sample = tally.roll(3, true, false);
        assert_eq!(sample.second, 3);
        assert!(sample.warmup);
        assert_eq!((sample.ok, sample.errors), (100, 1));
        assert_eq!(sample.latency_us_p50, 50);
        assert_eq!(sample.latency_us_p99, 99);
        assert_eq!(sample.latency_us_max, 100);
        assert!(tally.is_empty());

        let next = tally.roll(4, false, false);
        assert_eq!((next.ok, next.errors, next.latency_us_p99, next.latency_us_max), (0, 0, 0, 0));
    }

    #[test]
    fn concatenated_runs_keep_counting_seconds() {
        let mut tally = SecondTally::default();
        let first: Vec<_> = (1..=3).map(|second| tally.roll(second, second == 1, false)).collect();
        let second: Vec<_> = (1..=2).map(|second| tally.roll(second, false, false)).collect();
        let joined = concatenate([first.as_slice(), second.as_slice()]);
        let seconds: Vec<_> = joined.iter().map(|sample| sample.second).collect();
        assert_eq!(seconds, [1, 2, 3, 4, 5]);
        assert!(joined[0].warmup && !joined[3].warmup);
    }
}

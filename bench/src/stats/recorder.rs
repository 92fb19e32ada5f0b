//! Collects the outcome of every request of one run, from any task: the measured histogram
//! (requests whose intended send time is past the warm-up), errors by code, and the per-second
//! series that the progress line and the throughput plot read. One short lock per request: at the
//! tens of thousands of requests per second a 2-core machine answers, it is never contended long.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::percentiles::{
    LatencySummary, PercentilePoint, new_histogram, percentile_curve, summarize,
};
use super::series::{SecondSample, SecondTally, concatenate};
use crate::engine_footprint::Footprint;
use crate::limits::PERCENTILE_POINTS_PER_DECADE;

pub struct Recorder {
    started: Instant,
    measured_from: Instant,
    tally: Mutex<Tally>,
}

struct Tally {
    latency_us: Histogram<u64>,
    ok: u64,
    errors_by_code: BTreeMap<String, u64>,
    requests_by_kind: BTreeMap<&'static str, u64>,
    ok_by_kind: BTreeMap<&'static str, u64>,
    errors_seen: u64,
    second: SecondTally,
    series: Vec<SecondSample>,
}

/// One second's progress, for the progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub second: u64,
    pub warmup: bool,
    pub ok_per_sec: u64,
    /// Errors since the start, warm-up included.
    pub errors_seen: u64,
    /// p99 of the measured requests so far, or of this second's during the warm-up.
    pub latency_us_p99: u64,
    pub footprint: Footprint,
}

/// Everything a finished run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStats {
    pub requests_ok: u64,
    pub requests_error: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    /// Measured requests by kind (charge, refund, read, list, replay).
    pub requests_by_kind: BTreeMap<String, u64>,
    /// Measured requests by kind that the scenario judged successful.
    #[serde(default)]
    pub requests_ok_by_kind: BTreeMap<String, u64>,
    pub latency: LatencySummary,
    pub percentiles: Vec<PercentilePoint>,
    pub series: Vec<SecondSample>,
    /// The engine's CPU time over the measured seconds, where this tool spawned it.
    #[serde(default)]
    pub engine_cpu_us: Option<u64>,
    /// The measured latencies themselves, so that two runs of one side can be joined.
    #[serde(skip, default = "new_histogram")]
    pub latency_us: Histogram<u64>,
}

impl RunStats {
    /// One side measured in two runs (`charge-priced` measures each side twice, interleaved) as
    /// if in one: counts add up, latencies join, the series follow one another.
    pub fn join(self, later: RunStats) -> RunStats {
        let mut latency_us = self.latency_us;
        latency_us.add(&later.latency_us).expect("both histograms share one range");
        RunStats {
            requests_ok: self.requests_ok + later.requests_ok,
            requests_error: self.requests_error + later.requests_error,
            errors_by_code: add_counts(self.errors_by_code, later.errors_by_code),
            requests_by_kind: add_counts(self.requests_by_kind, later.requests_by_kind),
            requests_ok_by_kind: add_counts(self.requests_ok_by_kind, later.requests_ok_by_kind),
            latency: summarize(&latency_us),
            percentiles: percentile_curve(&latency_us, PERCENTILE_POINTS_PER_DECADE),
            series: concatenate([self.series.as_slice(), later.series.as_slice()]),
            engine_cpu_us: self.engine_cpu_us.zip(later.engine_cpu_us).map(|(a, b)| a + b),
            latency_us,
        }
    }
}

fn add_counts(
    mut into: BTreeMap<String, u64>,
    from: BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    for (key, count) in from {
        *into.entry(key).or_default() += count;
    }
    into
}

impl Recorder {
    pub fn new(started: Instant, warmup: Duration) -> Self {
        Self {
            started,
            measured_from: started + warmup,
            tally: Mutex::new(Tally {
                latency_us: new_histogram(),
                ok: 0,
                errors_by_code: BTreeMap::new(),
                requests_by_kind: BTreeMap::new(),
                ok_by_kind: BTreeMap::new(),
                errors_seen: 0,
                second: SecondTally::default(),
                series: Vec::new(),
            }),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Records one request intended to be sent at `intended`. `latency` is `None` when there was
    /// no HTTP answer (transport error, timeout, dropped arrival): those count only as errors.
    pub fn record(
        &self,
        intended: Instant,
        kind: &'static str,
        latency: Option<Duration>,
        verdict: Result<(), String>,
    ) {
        let latency_us = latency.map(|latency| latency.as_micros().max(1) as u64);
        let measured = intended >= self.measured_from;
        let mut tally = self.tally.lock();
        tally.second.record(latency_us, verdict.is_ok());
        if verdict.is_err() {
            tally.errors_seen += 1;
        }
        if !measured {
            return;
        }
        if let Some(latency_us) = latency_us {
            tally.latency_us.saturating_record(latency_us);
        }
        *tally.requests_by_kind.entry(kind).or_default() += 1;
        match verdict {
            Ok(()) => {
                tally.ok += 1;
                *tally.ok_by_kind.entry(kind).or_default() += 1;
            }
            Err(code) => *tally.errors_by_code.entry(code).or_default() += 1,
        }
    }

    /// Closes the current second, with the engine's footprint read at its end (none where no
    /// engine was spawned): called once a second by the progress ticker.
    pub fn roll_second(&self, footprint: Footprint) -> Progress {
        let mut tally = self.tally.lock();
        let second = tally.series.len() as u64 + 1;
        // A second that began during the warm-up is marked as warm-up, even if it ends after.
        let warmup = self.started + Duration::from_secs(second - 1) < self.measured_from;
        let sample = SecondSample {
            engine_rss_bytes: footprint.rss_bytes,
            engine_data_bytes: footprint.data_bytes,
            ..tally.second.roll(second, warmup, false)
        };
        tally.series.push(sample);
        let latency_us_p99 = match tally.latency_us.is_empty() {
            true => sample.latency_us_p99,
            false => tally.latency_us.value_at_quantile(0.99),
        };
        Progress {
            second,
            warmup,
            ok_per_sec: sample.ok,
            errors_seen: tally.errors_seen,
            latency_us_p99,
            footprint,
        }
    }

    /// The figures of the run; a partly filled last second joins the series.
    pub fn finish(&self) -> RunStats {
        let mut tally = self.tally.lock();
        if !tally.second.is_empty() {
            let second = tally.series.len() as u64 + 1;
            let warmup = self.started + Duration::from_secs(second - 1) < self.measured_from;
            let sample = tally.second.roll(second, warmup, true);
            tally.series.push(sample);
        }
        RunStats {
            requests_ok: tally.ok,
            requests_error: tally.errors_by_code.values().sum(),
            errors_by_code: tally.errors_by_code.clone(),
            requests_by_kind: by_kind(&tally.requests_by_kind),
            requests_ok_by_kind: by_kind(&tally.ok_by_kind),
            latency: summarize(&tally.latency_us),
            percentiles: percentile_curve(&tally.latency_us, PERCENTILE_POINTS_PER_DECADE),
            series: tally.series.clone(),
            engine_cpu_us: None,
            latency_us: tally.latency_us.clone(),
        }
    }
}

fn by_kind(counts: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    counts.iter().map(|(kind, count)| ((*kind).to_owned(), *count)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_requests_reach_the_series_but_not_the_figures() {
        let started = Instant::now();
        let recorder = Recorder::new(started, Duration::from_secs(1));
        let during_warmup = started + Duration::from_millis(500);
        let measured = started + Duration::from_millis(1500);
        recorder.record(during_warmup, "charge", Some(Duration::from_micros(900)), Ok(()));
        recorder.record(measured, "charge", Some(Duration::from_micros(100)), Ok(()));
        recorder.record(
            measured,
            "charge",
            Some(Duration::from_micros(300)),
            Err("http_500".into()),
        );
        recorder.record(measured, "charge", None, Err("timeout".into()));

        let progress = recorder.roll_second(Footprint::default());
        assert_eq!((progress.second, progress.warmup, progress.ok_per_sec), (1, true, 2));
        assert_eq!(progress.errors_seen, 2);

        let stats = recorder.finish();
        assert_eq!((stats.requests_ok, stats.requests_error), (1, 2));
        assert_eq!(stats.errors_by_code["http_500"], 1);
        assert_eq!(stats.errors_by_code["timeout"], 1);
        assert_eq!(stats.requests_by_kind["charge"], 3);
        assert_eq!(stats.requests_ok_by_kind["charge"], 1);
        assert_eq!(stats.latency.count, 2, "only answered, measured requests have a latency");
        assert_eq!(stats.latency.latency_us_max, 300);
        assert_eq!(stats.series.len(), 1, "nothing was left after the roll");
    }

    #[test]
    fn the_engine_footprint_read_at_a_second_lands_in_its_sample() {
        let recorder = Recorder::new(Instant::now(), Duration::ZERO);
        let footprint = Footprint { rss_bytes: Some(1_900_000_000), data_bytes: Some(14_400) };
        assert_eq!(recorder.roll_second(footprint).footprint, footprint);
        recorder.roll_second(Footprint::default());
        let series = recorder.finish().series;
        assert_eq!(series[0].engine_rss_bytes, Some(1_900_000_000));
        assert_eq!(series[0].engine_data_bytes, Some(14_400));
        assert_eq!(series[1].engine_rss_bytes, None, "a second with no reading has none");
    }

    #[test]
    fn two_runs_of_one_side_join_as_if_they_were_one() {
        let run = |latencies_us: &[u64], errors: usize| {
            let started = Instant::now();
            let recorder = Recorder::new(started, Duration::ZERO);
            for latency_us in latencies_us {
                let latency = Some(Duration::from_micros(*latency_us));
                recorder.record(started, "charge", latency, Ok(()));
            }
            for _ in 0..errors {
                recorder.record(started, "charge", None, Err("timeout".into()));
            }
            recorder.roll_second(Footprint::default());
            recorder.finish()
        };
        let joined = run(&[100, 200], 1).join(run(&[300, 400, 900], 2));
        assert_eq!((joined.requests_ok, joined.requests_error), (5, 3));
        assert_eq!(joined.errors_by_code["timeout"], 3);
        assert_eq!(joined.requests_by_kind["charge"], 8);
        assert_eq!(joined.requests_ok_by_kind["charge"], 5);
        assert_eq!(joined.latency.count, 5);
        assert_eq!(joined.latency.latency_us_max, 900);
        let seconds: Vec<u64> = joined.series.iter().map(|sample| sample.second).collect();
        assert_eq!(seconds, [1, 2], "the later run's seconds follow the earlier's");
    }
}

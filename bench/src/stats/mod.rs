//! What a run measured: a recorder shared by the request tasks, the percentile figures of its
//! HdrHistogram, and its per-second series.

pub mod percentiles;
pub mod recorder;
pub mod series;

pub use percentiles::{LatencySummary, PercentilePoint, new_histogram};
pub use recorder::{Progress, Recorder, RunStats};
pub use series::SecondSample;

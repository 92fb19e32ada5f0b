//! Closed loop: `connections` workers, each with its own connection, each sending its next
//! request as soon as the last is answered, until the deadline. Latency is from the actual send,
//! so this mode measures capacity, not latency under a given arrival rate.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;

use crate::client::{Connection, Exchange};
use crate::limits::FAILURE_PAUSE;
use crate::stats::Recorder;
use crate::target::Endpoint;
use crate::workload::Workload;

pub async fn run(
    endpoint: &Endpoint,
    workload: &Arc<Workload>,
    recorder: &Arc<Recorder>,
    connections: usize,
    deadline: Instant,
    request_timeout: Duration,
) {
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let endpoint = endpoint.clone();
            let workload = Arc::clone(workload);
            let recorder = Arc::clone(recorder);
            tokio::spawn(async move {
                worker(&endpoint, &workload, &recorder, deadline, request_timeout).await
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a load worker panicked");
    }
}

async fn worker(
    endpoint: &Endpoint,
    workload: &Workload,
    recorder: &Recorder,
    deadline: Instant,
    request_timeout: Duration,
) {
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut connection = Connection::new(endpoint.address);
    while Instant::now() < deadline {
        let planned = workload.plan(&mut rng);
        let request = endpoint.request(&planned.spec);
        let sent = Instant::now();
        let exchange = connection.exchange(request, sent + request_timeout).await;
        let answered = matches!(exchange, Exchange::Answered(_));
        super::record(recorder, workload, &planned, sent, exchange);
        if !answered {
            tokio::time::sleep(FAILURE_PAUSE).await;
        }
    }
}

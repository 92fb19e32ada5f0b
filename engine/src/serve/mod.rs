//! Serves a warp filter over HTTP/1.1 with the limits warp's own server lacks (it builds hyper's
//! connections without a timer, so no time limit applies, and accepts without bound):
//!
//! - at most `max_connections` connections at once: the next one is accepted only when one
//!   closes, and meanwhile waits in the kernel's listen queue;
//! - a request's head must arrive within the header timeout of its first byte (a new
//!   connection's, of its opening), and a kept-alive connection is closed after the idle timeout
//!   without a request ([`phase`] says why hyper's own header timeout does not do both);
//! - on shutdown, no new connection is accepted and the open ones finish the request under way.
//!
//! HTTP/1.1 only: every client of Kassa's (platforms' backends, gateways' webhooks, the bench)
//! speaks it, and each limit above is defined per request of one connection.

mod phase;
mod watched;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use warp::Filter;

pub use phase::Timeouts;
use phase::{ConnectionPhase, Phase};
use watched::{Ended, Watched, WatchedService, WatchedSocket};

use crate::limits::ACCEPT_ERROR_PAUSE;

/// What one listener allows.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub timeouts: Timeouts,
}

/// Serves `filter` on `listener` until `shutdown` completes, then waits for the open connections
/// to finish the request they are serving (the caller bounds that wait).
pub async fn serve<F>(
    listener: TcpListener,
    filter: F,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) where
    F: Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &slots) => accepted,
            () = &mut shutdown => break,
        };
        let Some((stream, slot)) = accepted else { continue };
        let service = TowerToHyperService::new(warp::service(filter.clone()));
        let connection = run_connection(stream, service, limits.timeouts, &graceful);
        tokio::spawn(async move {
            let _open = OpenConnection::new(slot);
            connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Waits for a free slot, then for a connection. `None` after a failed `accept` (and a pause).
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let slot = Arc::clone(slots).acquire_owned().await.expect("the semaphore is never closed");
    match listener.accept().await {
        Ok((stream, _)) => {
            // Answers are written whole; Nagle's algorithm would only hold their last segment.
            let _ = stream.set_nodelay(true);
            Some((stream, slot))
        }
        Err(error) => {
            tracing::warn!(%error, "accepting a connection failed");
            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            None
        }
    }
}

/// The future that serves one connection until it ends, is timed out, or the server stops.
fn run_connection<S>(
    stream: TcpStream,
    service: S,
    timeouts: Timeouts,
    graceful: &GracefulShutdown,
) -> impl Future<Output = ()> + Send + 'static
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let phase = ConnectionPhase::opened(timeouts);
    let socket = TokioIo::new(WatchedSocket::new(stream, phase.clone()));
    let service = WatchedService::new(service, phase.clone());
    let connection = hyper::server::conn::http1::Builder::new()
        // The connection's phase sets its time limits (see `phase`).
        .header_read_timeout(None)
        .serve_connection(socket, service);
    let connection = Watched::new(graceful.watch(connection), phase);
    async move {
        match connection.await {
            Ended::Finished(Ok(())) => {}
            Ended::Finished(Err(error)) => tracing::debug!(%error, "connection ended"),
            Ended::TimedOut(phase) => timed_out(phase),
        }
    }
}

fn timed_out(phase: Phase) {
    let reason = match phase {
        Phase::Head => "header_timeout",
        Phase::Idle => "idle_timeout",
        Phase::Serving => unreachable!("a connection serving a request has no deadline"),
    };
    tracing::debug!(phase = phase.as_str(), "connection closed at its deadline");
    let labels = crate::metrics::ConnectionCloseLabels { reason };
    crate::metrics::global().http_connections_closed.get_or_create(&labels).inc();
}

/// Counts a connection as open while it holds its slot.
struct OpenConnection {
    _slot: OwnedSemaphorePermit,
}

impl OpenConnection {
    fn new(slot: OwnedSemaphorePermit) -> Self {
        crate::metrics::global().http_connections_open.inc();
        OpenConnection { _slot: slot }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        crate::metrics::global().http_connections_open.dec();
    }
}

/// The limits of `server.*` in the config.
pub fn limits_from(config: &crate::config::ServerConfig) -> ConnectionLimits {
    ConnectionLimits {
        max_connections: config.max_connections,
        timeouts: Timeouts {
            header: Duration::from_millis(config.header_timeout_ms),
            idle: Duration::from_millis(config.idle_timeout_ms),
        },
    }
}

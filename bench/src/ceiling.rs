//! The ceiling: the plainest warp 0.4 route that does what every charge request needs at the
//! least (accept the connection, parse a JSON body of the same shape and size, answer a small
//! JSON), served by this process on its own multi-thread tokio runtime, as the engine serves on
//! its own. The same client and load against it measure what this machine and this client can do
//! at all, so the engine's figures can be given as a share of it.

use std::net::{Ipv4Addr, SocketAddr};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use warp::Filter;

use crate::error::BenchError;

/// The route's path.
pub const CHARGE_PATH: &str = "/charge";
/// Same body limit as the engine's.
const BODY_BYTES_MAX: u64 = 64 * 1024;
/// How long stopping may wait for the server's tasks.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
struct ChargeRequest {
    customer: String,
    amount: u64,
    currency: String,
}

#[derive(Serialize)]
struct ChargeAnswer<'a> {
    object: &'static str,
    customer: &'a str,
    amount: u64,
    currency: &'a str,
    status: &'static str,
}

/// A running ceiling server; stops when dropped.
pub struct CeilingServer {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CeilingServer {
    /// Starts the server on 127.0.0.1 at a free port, with one runtime worker per core.
    pub fn start() -> Result<Self, BenchError> {
        let (address_sender, address_receiver) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("ceiling".into())
            .spawn(move || serve(address_sender, stopped))
            .map_err(|error| BenchError::Ceiling(error.to_string()))?;
        let address = address_receiver
            .recv()
            .map_err(|_| BenchError::Ceiling("the server thread ended before listening".into()))?
            .map_err(BenchError::Ceiling)?;
        Ok(Self { address, stop: Some(stop), thread: Some(thread) })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for CeilingServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    address_sender: std::sync::mpsc::Sender<Result<SocketAddr, String>>,
    stopped: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ceiling-worker")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = address_sender.send(Err(error.to_string()));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await {
            Ok(listener) => listener,
            Err(error) => {
                let _ = address_sender.send(Err(error.to_string()));
                return;
            }
        };
        let address = listener.local_addr().map_err(|error| error.to_string());
        let _ = address_sender.send(address);
        let server = warp::serve(route()).incoming(listener).run();
        tokio::select! {
            () = server => {}
            _ = stopped => {}
        }
    });
    // Open keep-alive connections hold tasks; do not wait on them for long.
    runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
}

fn route() -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::post()
        .and(warp::path("charge"))
        .and(warp::path::end())
        .and(warp::body::content_length_limit(BODY_BYTES_MAX))
        .and(warp::body::json())
        .map(|charge: ChargeRequest| {
            warp::reply::json(&ChargeAnswer {
                object: "charge",
                customer: &charge.customer,
                amount: charge.amount,
                currency: &charge.currency,
                status: "succeeded",
            })
        })
}

//! The HTTP/1.1 client every run uses, the ceiling's and the engine's alike. Each `Connection`
//! owns one keep-alive socket (hyper's low-level `conn` API), so a closed loop of N workers holds
//! exactly N sockets and nothing is shared on the hot path; the open loop leases connections from
//! a `Pool` whose size caps the sockets. A failed or timed-out exchange drops its socket, since
//! its state is unknown, and the next exchange connects afresh.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::limits::RESPONSE_BYTES_MAX;

/// A response, read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The engine's `Idempotent-Replayed: true` header was present.
    pub replayed: bool,
    pub body: Bytes,
}

/// What became of one request.
#[derive(Debug)]
pub enum Exchange {
    Answered(Answer),
    /// Connecting, sending or reading failed; the code names the stage.
    Failed(&'static str),
    /// No complete answer before the deadline.
    TimedOut,
}

pub struct Connection {
    address: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    pub fn new(address: SocketAddr) -> Self {
        Self { address, sender: None }
    }

    /// Sends `request` and reads its answer, giving up at `deadline`.
    pub async fn exchange(&mut self, request: Request<Full<Bytes>>, deadline: Instant) -> Exchange {
        self.exchange_up_to(request, deadline, RESPONSE_BYTES_MAX).await
    }

    /// [`Connection::exchange`] of an answer that may be up to `max_bytes` long (a statement's).
    pub async fn exchange_up_to(
        &mut self,
        request: Request<Full<Bytes>>,
        deadline: Instant,
        max_bytes: usize,
    ) -> Exchange {
        match tokio::time::timeout_at(deadline, self.exchange_unbounded(request, max_bytes)).await {
            Ok(Ok(answer)) => Exchange::Answered(answer),
            Ok(Err(stage)) => {
                self.sender = None;
                Exchange::Failed(stage)
            }
            Err(_) => {
                self.sender = None;
                Exchange::TimedOut
            }
        }
    }

    async fn exchange_unbounded(
        &mut self,
        request: Request<Full<Bytes>>,
        max_bytes: usize,
    ) -> Result<Answer, &'static str> {
        let sender = self.ready_sender().await?;
        let response = sender.send_request(request).await.map_err(|_| "transport_send")?;
        let status = response.status();
        let replayed =
            response.headers().get("idempotent-replayed").is_some_and(|value| value == "true");
        let body = Limited::new(response.into_body(), max_bytes)
            .collect()
            .await
            .map_err(|_| "transport_read")?
            .to_bytes();
        Ok(Answer { status, replayed, body })
    }

    /// The open connection, or a new one when there is none or the server closed it.
    async fn ready_sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, &'static str> {
        let reusable = match self.sender.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.sender = Some(connect(self.address).await?);
        }
        let sender = self.sender.as_mut().expect("a sender was just ensured");
        sender.ready().await.map_err(|_| "transport_connect")?;
        Ok(sender)
    }
}

async fn connect(address: SocketAddr) -> Result<SendRequest<Full<Bytes>>, &'static str> {
    let stream = TcpStream::connect(address).await.map_err(|_| "transport_connect")?;
    // Requests are small and latency is what is measured: never wait for Nagle.
    stream.set_nodelay(true).map_err(|_| "transport_connect")?;
    let (sender, connection) =
        http1::handshake(TokioIo::new(stream)).await.map_err(|_| "transport_connect")?;
    // The connection task ends when the sender is dropped or the server closes the socket.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// At most `size` connections, lent one request at a time.
pub struct Pool {
    address: SocketAddr,
    idle: Mutex<Vec<Connection>>,
    slots: Arc<Semaphore>,
}

impl Pool {
    pub fn new(address: SocketAddr, size: usize) -> Arc<Self> {
        Arc::new(Self {
            address,
            idle: Mutex::new(Vec::with_capacity(size)),
            slots: Arc::new(Semaphore::new(size)),
        })
    }

    /// Waits for a free slot; the connection goes back to the pool when the lease is dropped.
    pub async fn lease(self: &Arc<Self>) -> Lease {
        let permit =
            Arc::clone(&self.slots).acquire_owned().await.expect("the pool is never closed");
        let connection = self.idle.lock().pop().unwrap_or_else(|| Connection::new(self.address));
        Lease { connection: Some(connection), pool: Arc::clone(self), _permit: permit }
    }
}

pub struct Lease {
    connection: Option<Connection>,
    pool: Arc<Pool>,
    // Dropped after `drop` below has put the connection back, so the next lease finds it.
    _permit: OwnedSemaphorePermit,
}

impl Deref for Lease {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("present until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool.idle.lock().push(connection);
        }
    }
}

//! The three places a connection's [`ConnectionPhase`] is told what happens: its socket (bytes
//! arrived), its service (a request began, its answer is ready) and the future that runs it
//! (closed at the deadline of the phase it is in).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::phase::{ConnectionPhase, Phase};

/// A socket that reports arriving bytes.
pub struct WatchedSocket<T> {
    inner: T,
    phase: ConnectionPhase,
}

impl<T> WatchedSocket<T> {
    pub fn new(inner: T, phase: ConnectionPhase) -> Self {
        WatchedSocket { inner, phase }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedSocket<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > filled {
            self.phase.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedSocket<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A hyper service that reports when a request starts being served and when it is answered.
#[derive(Clone)]
pub struct WatchedService<S> {
    inner: S,
    phase: ConnectionPhase,
}

impl<S> WatchedService<S> {
    pub fn new(inner: S, phase: ConnectionPhase) -> Self {
        WatchedService { inner, phase }
    }
}

impl<S, R> hyper::service::Service<R> for WatchedService<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Answering<S::Future>;

    fn call(&self, request: R) -> Self::Future {
        self.phase.serving();
        Answering { inner: Box::pin(self.inner.call(request)), phase: self.phase.clone() }
    }
}

/// A request being served; the connection turns idle once it is answered.
pub struct Answering<F> {
    inner: Pin<Box<F>>,
    phase: ConnectionPhase,
}

impl<F: Future> Future for Answering<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let answer = self.inner.as_mut().poll(cx);
        if answer.is_ready() {
            self.phase.answered();
        }
        answer
    }
}

/// How a watched connection ended.
pub enum Ended<T> {
    /// hyper finished with it (the client closed it, or asked to, or an error).
    Finished(T),
    /// It passed the deadline of this phase and was closed.
    TimedOut(Phase),
}

/// Runs a connection until it ends, or until the deadline of its phase passes. The phase only
/// changes while the connection is polled (on this task), so checking it after each poll of the
/// connection never misses a change.
pub struct Watched<C> {
    connection: Pin<Box<C>>,
    phase: ConnectionPhase,
    timer: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl<C> Watched<C> {
    pub fn new(connection: C, phase: ConnectionPhase) -> Self {
        Watched {
            connection: Box::pin(connection),
            phase,
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
        }
    }
}

impl<C: Future> Future for Watched<C> {
    type Output = Ended<C::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.connection.as_mut().poll(cx) {
            return Poll::Ready(Ended::Finished(output));
        }
        let (phase, deadline) = self.phase.current();
        let Some(deadline) = deadline else {
            self.armed = None;
            return Poll::Pending;
        };
        if self.armed != Some(deadline) {
            self.timer.as_mut().reset(deadline);
            self.armed = Some(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ended::TimedOut(phase)),
            Poll::Pending => Poll::Pending,
        }
    }
}

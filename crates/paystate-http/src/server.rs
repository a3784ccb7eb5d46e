//! The accept loop: HTTP/1.1 connections served by hyper, with the limits that keep a few slow or
//! greedy clients from tying the server up, and a graceful shutdown that finishes the requests in
//! flight.
//!
//! axum's own `serve` has neither a header-read timeout nor a per-address cap, so paystate runs
//! hyper directly: a client that sends its headers too slowly is disconnected after
//! [`ConnectionLimits::header_timeout`]; one address may hold at most
//! [`ConnectionLimits::per_address`] connections at once (more are closed on accept); a body that
//! stalls for [`ConnectionLimits::body_timeout`] is answered 408 (a layer of the app, see
//! [`crate::app`]).

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits on connections and the time a client may take to send a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the connection (or the end of the previous request) to the end of the headers.
    pub header_timeout: Duration,
    /// The longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// Connections one client address may hold open at once.
    pub per_address: usize,
    /// A connection whose peer reads nothing of an answer for this long is closed (see
    /// [`crate::stall`]): a frozen event-stream consumer would otherwise hold it forever.
    pub write_stall: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            per_address: 1024,
            write_stall: Duration::from_secs(60),
        }
    }
}

/// Open connections per client address.
#[derive(Clone, Default)]
struct Addresses(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One admitted connection; its address's count goes down when it drops.
struct Admitted {
    addresses: Addresses,
    address: IpAddr,
}

impl Addresses {
    fn admit(&self, address: IpAddr, limit: usize) -> Option<Admitted> {
        let mut open = self.0.lock().ok()?;
        let count = open.entry(address).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Admitted { addresses: self.clone(), address })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.addresses.0.lock()
            && let Some(count) = open.get_mut(&self.address)
        {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the connections' requests
/// in flight to finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    // The builder axum's own `serve` uses, limited to HTTP/1.1, with a header-read timeout.
    let mut http = auto::Builder::new(TokioExecutor::new()).http1_only();
    http.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    let addresses = Addresses::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: pause rather than spin.
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = addresses.admit(peer.ip(), limits.per_address) else {
            tracing::warn!(address = %peer.ip(), limit = limits.per_address, "too many connections from one address");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The peer address, as axum's ConnectInfo, lets the console throttle sign-ins per client.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let stream = crate::stall::StallGuard::new(stream, limits.write_stall);
        let connection =
            graceful.watch(http.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a connection ended with an error");
            }
            drop(admitted);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

//! The admin endpoint (`--admin ADDR` or `admin:` in the config): `/healthz`,
//! `/readyz`, `/metrics` (OpenMetrics text) and `/probes` (JSON). Every
//! request asks the main loop for a [`Snapshot`], so the answer is never
//! stale, and `/healthz` fails when the loop stops draining.

mod metrics;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::{mpsc, oneshot};

use crate::live::Status;
use crate::otlp::ExportStats;

/// How long a request waits for the main loop: a binary being analysed
/// holds it for seconds; much longer means it is stuck.
const LOOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the main loop reports to one admin request.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Probes, counters, open calls.
    pub status: Status,
    /// The OTLP export's counters, when exporting.
    pub export: Option<ExportStats>,
}

/// A request for a snapshot, answered by the main loop.
pub type Request = oneshot::Sender<Snapshot>;

/// Errors starting the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The address could not be bound.
    #[error("admin endpoint: cannot listen on {addr}: {source} (choose another `admin` address or port)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Binds `addr` and serves the endpoint on the current runtime; the main
/// loop answers the requests arriving on the returned receiver.
pub async fn start(addr: SocketAddr) -> Result<(SocketAddr, mpsc::Receiver<Request>), AdminError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let (tx, rx) = mpsc::channel(16);
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/probes", get(probes))
        .with_state(tx);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("admin endpoint stopped: {e}");
        }
    });
    Ok((bound, rx))
}

/// Asks the main loop for a snapshot; None when it does not answer in time.
async fn snapshot(tx: &mpsc::Sender<Request>) -> Option<Snapshot> {
    let (reply, answer) = oneshot::channel();
    tokio::time::timeout(LOOP_TIMEOUT, async {
        tx.send(reply).await.ok()?;
        answer.await.ok()
    })
    .await
    .ok()
    .flatten()
}

fn stuck() -> Response {
    let text = format!(
        "gotel's main loop did not answer within {} s (stuck, or analysing a binary)\n",
        LOOP_TIMEOUT.as_secs()
    );
    (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
}

async fn healthz(State(tx): State<mpsc::Sender<Request>>) -> Response {
    match snapshot(&tx).await {
        Some(_) => "ok\n".into_response(),
        None => stuck(),
    }
}

async fn readyz(State(tx): State<mpsc::Sender<Request>>) -> Response {
    let Some(s) = snapshot(&tx).await else {
        return stuck();
    };
    let unready = s.status.unready();
    match unready.is_empty() {
        true => "ready\n".into_response(),
        false => {
            let text = format!("not attached:\n{}\n", unready.join("\n"));
            (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
        }
    }
}

async fn metrics(State(tx): State<mpsc::Sender<Request>>) -> Response {
    let Some(s) = snapshot(&tx).await else {
        return stuck();
    };
    match metrics::encode(&s, crate::proc::resident_bytes()) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn probes(State(tx): State<mpsc::Sender<Request>>) -> Response {
    match snapshot(&tx).await {
        Some(s) => Json(s.status).into_response(),
        None => stuck(),
    }
}

//! `gotel webhook`: a mutating admission webhook (AdmissionReview v1) that
//! adds the sidecar to pods annotated `gotel.dev/inject: "true"`, with the
//! same [`inject_pod`](super::inject_pod) as `gotel inject`. Served over
//! TLS (rustls); the certificate files are re-read when they change
//! (cert-manager or a Secret update rotates them in place): each handshake
//! checks their modification times, which costs two `stat`s.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::routing::post;
use axum::{Json, Router};
use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube_core::DynamicObject;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use super::Options;

/// The annotation that asks for injection (value `"true"`).
pub const INJECT: &str = "gotel.dev/inject";
/// The annotation naming the probes ConfigMap (else the webhook's default).
pub const PROBES: &str = "gotel.dev/probes";

/// Errors starting the webhook.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The certificate or key could not be read.
    #[error("webhook TLS: {path}: {why}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The address could not be bound.
    #[error("webhook: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// The mutation of one review: a patch adding the sidecar, or nothing.
pub fn review(
    review: AdmissionReview<DynamicObject>,
    defaults: &Options,
) -> AdmissionReview<DynamicObject> {
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(_) => {
            return AdmissionResponse::invalid("not an AdmissionReview request").into_review()
        }
    };
    let response = AdmissionResponse::from(&request);
    let Some(pod) = &request.object else {
        return response.into_review();
    };
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    // CREATE only: a pod's containers cannot change after it exists (an
    // UPDATE of a pod admitted while the webhook was down must pass).
    let create = matches!(request.operation, kube_core::admission::Operation::Create);
    if !create
        || request.kind.kind != "Pod"
        || annotations.get(INJECT).map(String::as_str) != Some("true")
    {
        return response.into_review();
    }
    let mut opts = defaults.clone();
    if let Some(cm) = annotations.get(PROBES) {
        opts.probes_config_map = cm.clone();
    }
    let before = serde_json::to_value(pod).expect("an object serialises");
    let mut after = before.clone();
    let Some(spec) = after.get_mut("spec") else {
        return response.into_review();
    };
    // Never block a pod on gotel: a spec it cannot edit is admitted as is
    // (failurePolicy: Ignore covers the webhook being down).
    match super::inject_pod(spec, &opts) {
        Ok(true) => {}
        Ok(false) => return response.into_review(),
        Err(e) => {
            tracing::warn!(pod = ?pod.metadata.name.as_ref().or(pod.metadata.generate_name.as_ref()), "not injected: {e}");
            return response.into_review();
        }
    }
    let patch = json_patch::diff(&before, &after);
    match response.clone().with_patch(patch) {
        Ok(r) => r.into_review(),
        Err(e) => {
            tracing::warn!("not injected: {e}");
            response.into_review()
        }
    }
}

/// The certificate served, re-read from its files when they change.
#[derive(Debug)]
struct Certs {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Option<SystemTime>)>,
}

impl Certs {
    fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, WebhookError> {
        let tls = |path: &Path, why: String| WebhookError::Tls {
            path: path.to_owned(),
            why,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| tls(cert, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| tls(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(tls(cert, "no certificate in it".into()));
        }
        let der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls(key, e.to_string()))?;
        let provider = rustls::crypto::ring::default_provider();
        let signer = provider
            .key_provider
            .load_private_key(der)
            .map_err(|e| tls(key, e.to_string()))?;
        let certified = CertifiedKey::new(chain, signer);
        // A rotation caught between its two writes: keep the old pair.
        certified
            .keys_match()
            .map_err(|e| tls(key, format!("does not match {}: {e}", cert.display())))?;
        Ok(Arc::new(certified))
    }

    fn modified(&self) -> Option<SystemTime> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        m(&self.cert).max(m(&self.key))
    }

    /// Re-reads the files if they changed; a bad new pair keeps the old.
    fn reload(&self) {
        let modified = self.modified();
        if modified == self.current.read().expect("not poisoned").1 {
            return;
        }
        match Certs::load(&self.cert, &self.key) {
            Ok(k) => {
                *self.current.write().expect("not poisoned") = (k, modified);
                tracing::info!(cert = %self.cert.display(), "webhook certificate reloaded");
            }
            Err(e) => {
                tracing::warn!("webhook certificate not reloaded, keeping the previous one: {e}")
            }
        }
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.reload();
        Some(self.current.read().expect("not poisoned").0.clone())
    }
}

/// Serves the webhook on `addr` (path `/mutate`) until the process ends.
pub async fn serve(
    addr: std::net::SocketAddr,
    cert: &Path,
    key: &Path,
    defaults: Options,
) -> Result<(), WebhookError> {
    let certs = Arc::new(Certs {
        cert: cert.to_owned(),
        key: key.to_owned(),
        current: RwLock::new((Certs::load(cert, key)?, None)),
    });
    certs.reload();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default versions")
    .with_no_client_auth()
    .with_cert_resolver(certs.clone());
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebhookError::Bind { addr, source })?;
    let defaults = Arc::new(defaults);
    let app = Router::new().route(
        "/mutate",
        post(move |Json(r): Json<AdmissionReview<DynamicObject>>| {
            let defaults = defaults.clone();
            async move { Json(review(r, &defaults)) }
        }),
    );
    tracing::info!(address = %listener.local_addr().unwrap_or(addr), "admission webhook listening (POST /mutate)");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, say: wait instead of spinning.
                tracing::warn!("webhook: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A client that never finishes its handshake holds nothing long.
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp));
            let tls = match handshake.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            if let Err(e) = conn {
                tracing::debug!(%peer, "webhook connection: {e}");
            }
        });
    }
}

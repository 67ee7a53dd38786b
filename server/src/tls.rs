//! TLS for client connections (`--tls-cert`, `--tls-key`): a rustls
//! acceptor from PEM files. pgwire answers a client's SSLRequest with `S`
//! and upgrades the connection when an acceptor is given, `N` otherwise.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Builds the acceptor from a PEM certificate chain and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1).
pub fn acceptor(cert_path: &Path, key_path: &Path) -> anyhow::Result<TlsAcceptor> {
    let cert_pem = std::fs::read(cert_path)
        .with_context(|| format!("reading the TLS certificate {}", cert_path.display()))?;
    let key_pem = std::fs::read(key_path)
        .with_context(|| format!("reading the TLS key {}", key_path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: not a PEM certificate: {e:?}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!(
            "{}: no certificate found (expected PEM)",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| anyhow!("{}: not a PEM private key: {e:?}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not go together")?;
    // Direct TLS negotiation (PostgreSQL 17 clients) requires this ALPN.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

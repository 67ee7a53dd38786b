//! TLS for client connections: a rustls acceptor from PEM files. A
//! client's SSLRequest is answered `S` and the connection upgraded when the
//! server has one, `N` otherwise.

use std::path::Path;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The server's certificate and key (`--tls-cert`, `--tls-key`), checked
/// when built.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) acceptor: TlsAcceptor,
}

/// Why a certificate or key cannot be used; the message names the file.
#[derive(Debug)]
pub struct TlsError(String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl TlsConfig {
    /// From a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1
    /// or SEC1).
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<TlsConfig, TlsError> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path)
                .map_err(|e| TlsError(format!("reading the TLS {what} {}: {e}", path.display())))
        };
        let cert_pem = read(cert_path, "certificate")?;
        let key_pem = read(key_path, "key")?;
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                TlsError(format!(
                    "{}: not a PEM certificate: {e:?}",
                    cert_path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(TlsError(format!(
                "{}: no certificate found (expected PEM)",
                cert_path.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            TlsError(format!(
                "{}: not a PEM private key: {e:?}",
                key_path.display()
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                TlsError(format!(
                    "the TLS certificate and key do not go together: {e}"
                ))
            })?;
        // Direct TLS negotiation (PostgreSQL 17 clients) requires this ALPN.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(TlsConfig {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

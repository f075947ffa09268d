//! A listener's TLS configuration that can be replaced while it serves: every new connection
//! takes the configuration current at its handshake; connections already open keep theirs
//! (rustls never needs the configuration again after the handshake), so a reload drops none.
//! A reload re-reads the certificate, the key and the client CAs together, so a new chain,
//! a rotated key and a new CA bundle take effect at once.
//!
//! This file must never leave a half-loaded configuration in force: a reload that fails
//! keeps the old one.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::TlsAcceptor;

use super::certs::{self, TlsError, TlsFiles};

/// The TLS configuration of one listener, reloadable.
#[derive(Debug)]
pub struct ReloadableTls {
    files: TlsFiles,
    alpn: Vec<&'static [u8]>,
    current: ArcSwap<rustls::ServerConfig>,
}

impl ReloadableTls {
    /// Load `files`, offering `alpn` (gRPC: `[b"h2"]`).
    pub fn load(files: TlsFiles, alpn: &[&'static [u8]]) -> Result<ReloadableTls, TlsError> {
        let config = certs::server_config(&files, alpn)?;
        Ok(ReloadableTls {
            files,
            alpn: alpn.to_vec(),
            current: ArcSwap::from_pointee(config),
        })
    }

    /// Read the files again; on success new connections get the new configuration.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = certs::server_config(&self.files, &self.alpn)?;
        self.current.store(Arc::new(config));
        Ok(())
    }

    /// An acceptor with the current configuration, for one handshake.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// The files it loads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

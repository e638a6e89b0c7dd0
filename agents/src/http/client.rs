//! The one reqwest client of an `http.request` agent, built from its config: the system's
//! certificate verifier and roots plus an optional CA file, pooled keep-alive connections,
//! proxies from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`), bounded redirects and
//! gzip decoding.

use std::io;
use std::path::PathBuf;

use reqwest::redirect::Policy;
use reqwest::{Certificate, Client};

use troupe_runtime::config::ConfigError;

use super::HttpConfig;

/// Why the client of an `http.request` agent could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// The CA file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    ReadCaFile { path: PathBuf, source: io::Error },
    /// The CA file holds no usable certificate.
    #[error("`{}` {reason}", path.display())]
    BadCaFile { path: PathBuf, reason: String },
    /// reqwest refused the settings.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

impl ClientError {
    /// The config field at fault, if one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::ReadCaFile { .. } | Self::BadCaFile { .. } => Some("ca_file"),
            Self::Build(_) => None,
        }
    }
}

impl From<ClientError> for ConfigError {
    fn from(e: ClientError) -> Self {
        let path = e.field().map(|f| format!("/{f}")).unwrap_or_default();
        ConfigError::new("http.request", path, e.to_string())
    }
}

/// Builds the client for `config`.
pub(crate) fn build(config: &HttpConfig) -> Result<Client, ClientError> {
    let extra = match &config.ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    let redirects = || match config.max_redirects {
        0 => Policy::none(),
        n => Policy::limited(n),
    };
    let builder = || {
        Client::builder()
            .user_agent("troupe-agents")
            .connect_timeout(config.connect_timeout)
            .redirect(redirects())
            .gzip(true)
    };
    // The system's verifier, with the CA file's certificates added to the system's roots.
    match builder().tls_certs_merge(extra.clone()).build() {
        Ok(client) => Ok(client),
        // The verifier refuses to start on a machine without any system roots: then only the
        // CA file is trusted (and without one, every https handshake fails as untrusted).
        Err(_) => builder()
            .tls_certs_only(extra)
            .build()
            .map_err(|e| match &config.ca_file {
                Some(path) => ClientError::BadCaFile {
                    path: path.clone(),
                    reason: super::error_chain(&e),
                },
                None => ClientError::Build(super::error_chain(&e)),
            }),
    }
}

/// The certificates of a PEM file.
fn read_ca_file(path: &PathBuf) -> Result<Vec<Certificate>, ClientError> {
    let pem = std::fs::read(path).map_err(|source| ClientError::ReadCaFile {
        path: path.clone(),
        source,
    })?;
    let bad = |reason: String| ClientError::BadCaFile {
        path: path.clone(),
        reason,
    };
    let certs = Certificate::from_pem_bundle(&pem).map_err(|e| {
        bad(format!(
            "is not a PEM certificate bundle: {}",
            super::error_chain(&e)
        ))
    })?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(certs)
}

//! Mutual TLS for the node-to-node transport (optional; plain TCP with cookie authentication
//! is the default).
//!
//! # TLS
//!
//! Every participant of a TLS cluster (each `troupe node`, and each client that joins with
//! `troupe run --cluster` or `troupe members`) has three PEM files, given as a [`TlsConfig`]
//! (`tls:` in a node's YAML config, or `--tls-cert`, `--tls-key` and `--tls-ca`):
//!
//! * `cert`: its own certificate, optionally followed by intermediate CA certificates;
//! * `key`: the private key of that certificate (PKCS#8, PKCS#1 or SEC1 PEM);
//! * `ca`: the certificate(s) of the CA that signs every participant's certificate.
//!
//! TLS is mutual: a node accepts a connection only from a peer whose certificate chains to the
//! CA, and a peer's certificate must chain to the CA for a node to connect to it. Nodes dial
//! each other by IP address (the transport address in the membership), so the peer's IP is the
//! name its certificate is checked against: **each certificate needs the IP address of its
//! transport listen address as an IP subject alternative name** (`subjectAltName=IP:...`). A
//! client also listens and is dialled, so its certificate needs its `--bind` IP too. Since a
//! certificate serves as both server and client certificate, if it has an extended key usage
//! extension it must allow both `serverAuth` and `clientAuth`. The cookie is still checked
//! inside the TLS session. Only TLS 1.3 is offered.
//!
//! Certificates can be made with OpenSSL, for example (keep `ca.key` off the nodes):
//!
//! ```sh
//! # The cluster's CA.
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
//!   -keyout ca.key -out ca.pem -subj "/CN=troupe cluster CA" \
//!   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
//! # One node listening on 10.0.0.5 (repeat for each node and client with its own IP).
//! openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//!   -keyout node1.key -out node1.csr -subj "/CN=node1"
//! printf 'subjectAltName=IP:10.0.0.5\nextendedKeyUsage=serverAuth,clientAuth\n' > node1.ext
//! openssl x509 -req -in node1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
//!   -extfile node1.ext -out node1.pem
//! ```
//!
//! [`TlsConfig::load`] reads and checks the files (each error names the file and what is
//! wrong, see [`TlsError`]) and builds a [`TlsSetup`]: the acceptor and connector the transport
//! uses. The crypto provider (aws-lc-rs) is chosen explicitly for each setup; no process-wide
//! default is installed or needed, so nodes with different certificates can share a process.
//! A node started on a simulated network ([`super::StreamNet`]) does not use TLS.
//!
//! # Inbound handshakes
//!
//! A TLS node accepts its transport connections itself rather than leaving that to
//! ractor_cluster (whose listener makes the server side of each handshake before it accepts
//! the next connection, with no time limit): each accepted connection gets a task of its own
//! that makes the handshake, so handshakes run concurrently, and a peer that has not completed
//! its handshake within [`HANDSHAKE_TIMEOUT`] is disconnected (logged with its address). A
//! connection that never speaks, or speaks something other than TLS, thus holds up no other
//! session. An established TLS session is then handed to ractor_cluster, which checks the
//! cookie inside it. ractor_cluster's own listener is moved to an ephemeral loopback port,
//! still TLS-only, and is not used.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use ractor_cluster::{NetworkStream, NodeServerMessage};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long a connection to a TLS node's transport port has to complete its TLS handshake
/// before the node closes it. Handshakes run concurrently (see the
/// [module docs](self#inbound-handshakes)), so this bounds what a silent or slow connection
/// costs the node, not how long other peers wait. A handshake on a LAN takes milliseconds.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a node's TLS material is: three PEM files (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// This node's certificate chain: its certificate first, then any intermediates. It must
    /// name the node's transport IP address as an IP subject alternative name.
    pub cert: PathBuf,
    /// The private key of `cert`.
    pub key: PathBuf,
    /// The certificate(s) of the CA that signs every node's certificate.
    pub ca: PathBuf,
}

/// Which of the three files a [`TlsError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFile {
    /// The node's certificate chain ([`TlsConfig::cert`]).
    Cert,
    /// The node's private key ([`TlsConfig::key`]).
    Key,
    /// The CA certificate(s) ([`TlsConfig::ca`]).
    Ca,
}

impl fmt::Display for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFile::Cert => "certificate",
            TlsFile::Key => "private key",
            TlsFile::Ca => "CA certificate",
        })
    }
}

/// Why the TLS files could not be used. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read (it is missing, unreadable, ...).
    #[error("cannot read the TLS {file} file {}: {error}", path.display())]
    Read {
        /// Which file.
        file: TlsFile,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("the TLS {file} file {} is not valid PEM: {reason}", path.display())]
    Pem {
        /// Which file.
        file: TlsFile,
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A certificate file holds no PEM certificate.
    #[error(
        "the TLS {file} file {} holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)",
        path.display()
    )]
    NoCertificate {
        /// Which file ([`TlsFile::Cert`] or [`TlsFile::Ca`]).
        file: TlsFile,
        /// Its path.
        path: PathBuf,
    },
    /// A certificate could not be parsed as an X.509 certificate.
    #[error("the TLS {file} file {} holds a certificate that cannot be used: {reason}", path.display())]
    BadCertificate {
        /// Which file ([`TlsFile::Cert`] or [`TlsFile::Ca`]).
        file: TlsFile,
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file holds no PEM private key.
    #[error(
        "the TLS private key file {} holds no private key (expected a PEM `BEGIN PRIVATE KEY`, \
         `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)",
        path.display()
    )]
    NoKey {
        /// The key file's path.
        path: PathBuf,
    },
    /// The private key is malformed or of an unsupported kind.
    #[error("the TLS private key file {} holds a key that cannot be used: {reason}", path.display())]
    BadKey {
        /// The key file's path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The private key is not the key of the certificate.
    #[error(
        "the TLS private key file {} does not hold the key of the certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file's path.
        cert: PathBuf,
        /// The key file's path.
        key: PathBuf,
    },
    /// The node's own certificate is not accepted by the CA (signed by another CA, expired,
    /// not allowed for client authentication, ...): peers would refuse it.
    #[error(
        "the TLS certificate in {} is not accepted by the CA in {}: {reason}",
        cert.display(),
        ca.display()
    )]
    Untrusted {
        /// The certificate file's path.
        cert: PathBuf,
        /// The CA file's path.
        ca: PathBuf,
        /// Why.
        reason: String,
    },
    /// The node's certificate does not name the IP address peers dial it at.
    #[error(
        "the TLS certificate in {} is not valid for this node's address {ip} ({reason}); peers \
         dial nodes by IP, so the certificate needs {ip} as an IP subject alternative name",
        cert.display()
    )]
    WrongAddress {
        /// The certificate file's path.
        cert: PathBuf,
        /// The node's transport IP.
        ip: IpAddr,
        /// Why.
        reason: String,
    },
    /// The TLS configuration could not be built from otherwise valid files.
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

impl TlsConfig {
    /// The files at `cert`, `key` and `ca`.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>, ca: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            ca: ca.into(),
        }
    }

    /// The same files with relative paths taken relative to `dir` (e.g. the directory of the
    /// config file that named them). Absolute paths are kept.
    pub fn relative_to(self, dir: &Path) -> Self {
        Self {
            cert: dir.join(self.cert),
            key: dir.join(self.key),
            ca: dir.join(self.ca),
        }
    }

    /// Reads and checks the three files and builds the acceptor and connector: the files must
    /// hold what they should, the key must belong to the certificate, and the certificate must
    /// be accepted by the CA.
    pub fn load(&self) -> Result<TlsSetup, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = read_certs(TlsFile::Cert, &self.cert)?;
        let key = read_key(&self.key)?;
        let cas = read_certs(TlsFile::Ca, &self.ca)?;

        let signing_key = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| TlsError::BadKey {
                path: self.key.clone(),
                reason: e.to_string(),
            })?;
        let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing_key);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(TlsError::KeyMismatch {
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                })
            }
            Err(e) => {
                return Err(TlsError::BadCertificate {
                    file: TlsFile::Cert,
                    path: self.cert.clone(),
                    reason: e.to_string(),
                })
            }
        }

        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots.add(ca).map_err(|e| TlsError::BadCertificate {
                file: TlsFile::Ca,
                path: self.ca.clone(),
                reason: e.to_string(),
            })?;
        }
        let roots = Arc::new(roots);
        let setup = |e: &dyn fmt::Display| TlsError::Setup(e.to_string());
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| setup(&e))?;
        let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| setup(&e))?;

        // Peers check this node's certificate the same way: catch a wrong CA here, with the
        // file names, rather than as refused handshakes later.
        client_verifier
            .verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
            .map_err(|e| TlsError::Untrusted {
                cert: self.cert.clone(),
                ca: self.ca.clone(),
                reason: e.to_string(),
            })?;

        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| setup(&e))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| setup(&e))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| setup(&e))?
            .with_webpki_verifier(server_verifier.clone())
            .with_client_auth_cert(chain.clone(), key)
            .map_err(|e| setup(&e))?;
        Ok(TlsSetup {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            cert: self.cert.clone(),
            chain,
            server_verifier,
        })
    }
}

/// A loaded [`TlsConfig`]: what the transport needs to accept and open TLS connections.
/// Cheap to clone.
#[derive(Clone)]
pub struct TlsSetup {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    cert: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    server_verifier: Arc<WebPkiServerVerifier>,
}

impl fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSetup")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl TlsSetup {
    /// Accepts connections from peers: requires a client certificate signed by the CA.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Opens connections to peers: presents this node's certificate and checks the peer's
    /// against the CA and the IP address dialled.
    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// The name a peer's certificate is checked against when dialling `ip`.
    pub fn server_name(ip: IpAddr) -> ServerName<'static> {
        ServerName::IpAddress(ip.into())
    }

    /// Checks that this node's certificate is valid for `ip`, the address peers dial it at (an
    /// IP subject alternative name), as peers will check it.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), TlsError> {
        self.server_verifier
            .verify_server_cert(
                &self.chain[0],
                &self.chain[1..],
                &Self::server_name(ip),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
            .map_err(|e| TlsError::WrongAddress {
                cert: self.cert.clone(),
                ip,
                reason: e.to_string(),
            })
    }
}

/// Accepts connections on `listener` until aborted (the transport aborts it when it stops, and
/// the handshakes still under way end with it). Each connection gets a task that makes the
/// server side of the TLS handshake under [`HANDSHAKE_TIMEOUT`] and hands the session to
/// `server`, which then authenticates the peer (cookie) inside it. Returns if `server` has
/// stopped.
pub(super) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    server: ActorRef<NodeServerMessage>,
) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    handshakes.spawn(handshake(tcp, peer, acceptor.clone(), server.clone()));
                }
                Err(e) => {
                    tracing::warn!(target: "troupe::cluster", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(done) = handshakes.join_next(), if !handshakes.is_empty() => {
                if matches!(done, Ok(Handover::ServerGone)) {
                    return;
                }
            }
        }
    }
}

/// What became of one accepted connection.
enum Handover {
    /// Handed to the node server, or dropped (failed or late handshake).
    Done,
    /// The node server has stopped: nothing more to accept.
    ServerGone,
}

/// The server side of one inbound TLS handshake, then the handover to the node server.
async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    server: ActorRef<NodeServerMessage>,
) -> Handover {
    let local = match tcp.set_nodelay(true).and_then(|()| tcp.local_addr()) {
        Ok(local) => local,
        Err(e) => {
            tracing::debug!(target: "troupe::cluster", %peer, "inbound connection lost: {e}");
            return Handover::Done;
        }
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::warn!(target: "troupe::cluster", %peer, "inbound TLS handshake failed: {e}");
            return Handover::Done;
        }
        Err(_) => {
            tracing::warn!(
                target: "troupe::cluster",
                %peer,
                "no TLS handshake within {HANDSHAKE_TIMEOUT:?}; connection closed"
            );
            return Handover::Done;
        }
    };
    tracing::debug!(target: "troupe::cluster", %peer, "inbound TLS session established");
    // The same stream ractor_cluster's own listener would hand over.
    let opened = NodeServerMessage::ConnectionOpened {
        stream: Box::new(NetworkStream::TlsServer {
            peer_addr: peer,
            local_addr: local,
            stream,
        }),
        is_server: true,
    };
    match server.cast(opened) {
        Ok(()) => Handover::Done,
        Err(_) => Handover::ServerGone,
    }
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        file,
        path: path.to_path_buf(),
        error,
    })
}

fn pem_error(file: TlsFile, path: &Path, e: pem::Error) -> TlsError {
    let reason = match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!(
                "a section has no `{}` line",
                String::from_utf8_lossy(&end_marker)
            )
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed BEGIN line `{}`", String::from_utf8_lossy(&line))
        }
        pem::Error::Base64Decode(e) => format!("bad base64 in a section: {e}"),
        other => other.to_string(),
    };
    TlsError::Pem {
        file,
        path: path.to_path_buf(),
        reason,
    }
}

fn read_certs(file: TlsFile, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(file, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(file, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            file,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(TlsFile::Key, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        e => pem_error(TlsFile::Key, path, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    struct Ca {
        pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    fn ca(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A node certificate for `ips`, signed by `ca`: (cert PEM, key PEM).
    fn node_cert(ca: &Ca, ips: &[&str]) -> (String, String) {
        let mut params =
            CertificateParams::new(ips.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "node");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes `cert.pem`, `key.pem` and `ca.pem` into a fresh directory.
    fn files(cert: &str, key: &str, ca: &str) -> (tempfile::TempDir, TlsConfig) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
        let config = TlsConfig::new("cert.pem", "key.pem", "ca.pem").relative_to(dir.path());
        (dir, config)
    }

    fn load_err(cert: &str, key: &str, ca: &str) -> (tempfile::TempDir, TlsConfig, TlsError) {
        let (dir, config) = files(cert, key, ca);
        let e = config.load().expect_err("the files should be refused");
        (dir, config, e)
    }

    #[test]
    fn good_files_load_and_the_certificate_is_checked_against_its_address() {
        let ca = ca("test CA");
        let (cert, key) = node_cert(&ca, &["127.0.0.1"]);
        let (_dir, config) = files(&cert, &key, &ca.pem);
        let setup = config.load().unwrap();
        setup.check_address("127.0.0.1".parse().unwrap()).unwrap();
        let e = setup
            .check_address("10.1.2.3".parse().unwrap())
            .unwrap_err();
        assert!(
            matches!(e, TlsError::WrongAddress { ref cert, .. } if *cert == config.cert),
            "{e}"
        );
        assert!(e.to_string().contains("10.1.2.3"), "{e}");
        assert!(e.to_string().contains("subject alternative name"), "{e}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let ca = ca("test CA");
        let (cert, key) = node_cert(&ca, &["127.0.0.1"]);
        for (missing, which) in [
            ("cert.pem", TlsFile::Cert),
            ("key.pem", TlsFile::Key),
            ("ca.pem", TlsFile::Ca),
        ] {
            let (dir, config) = files(&cert, &key, &ca.pem);
            std::fs::remove_file(dir.path().join(missing)).unwrap();
            let e = config.load().unwrap_err();
            let TlsError::Read { file, path, error } = &e else {
                panic!("expected a read error, got {e}")
            };
            assert_eq!(*file, which);
            assert_eq!(*path, dir.path().join(missing));
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
            assert!(
                e.to_string()
                    .contains(&dir.path().join(missing).display().to_string()),
                "{e}"
            );
        }
    }

    #[test]
    fn files_without_what_they_should_hold_are_refused() {
        let ca = ca("test CA");
        let (cert, key) = node_cert(&ca, &["127.0.0.1"]);

        // Key and certificate swapped.
        let (_d, config, e) = load_err(&key, &cert, &ca.pem);
        assert!(
            matches!(e, TlsError::NoCertificate { file: TlsFile::Cert, ref path } if *path == config.cert),
            "{e}"
        );
        // A key where the CA should be.
        let (_d, config, e) = load_err(&cert, &key, &key);
        assert!(
            matches!(e, TlsError::NoCertificate { file: TlsFile::Ca, ref path } if *path == config.ca),
            "{e}"
        );
        // An empty key file.
        let (_d, config, e) = load_err(&cert, "", &ca.pem);
        assert!(
            matches!(e, TlsError::NoKey { ref path } if *path == config.key),
            "{e}"
        );
        assert!(e.to_string().contains("no private key"), "{e}");
    }

    #[test]
    fn malformed_pem_and_bad_keys_are_refused() {
        let ca = ca("test CA");
        let (cert, key) = node_cert(&ca, &["127.0.0.1"]);

        // A section cut short.
        let cut = &cert[..cert.len() / 2];
        let (_d, config, e) = load_err(cut, &key, &ca.pem);
        assert!(
            matches!(e, TlsError::Pem { file: TlsFile::Cert, ref path, .. } if *path == config.cert),
            "{e}"
        );
        // Not base64.
        let garbage =
            "-----BEGIN PRIVATE KEY-----\n!!!!not base64!!!!\n-----END PRIVATE KEY-----\n";
        let (_d, _config, e) = load_err(&cert, garbage, &ca.pem);
        assert!(
            matches!(
                e,
                TlsError::Pem {
                    file: TlsFile::Key,
                    ..
                }
            ),
            "{e}"
        );
        // Well-formed PEM that is no key.
        let junk = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
        let (_d, config, e) = load_err(&cert, junk, &ca.pem);
        assert!(
            matches!(e, TlsError::BadKey { ref path, .. } if *path == config.key),
            "{e}"
        );
        // Well-formed PEM that is no certificate.
        let junk = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
        let (_d, _config, e) = load_err(&cert, &key, junk);
        assert!(
            matches!(
                e,
                TlsError::BadCertificate {
                    file: TlsFile::Ca,
                    ..
                }
            ),
            "{e}"
        );
        let (_d, _config, e) = load_err(junk, &key, &ca.pem);
        assert!(
            matches!(
                e,
                TlsError::BadCertificate {
                    file: TlsFile::Cert,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_key_of_another_certificate_or_a_certificate_of_another_ca_is_refused() {
        let ca1 = ca("test CA");
        let (cert, _key) = node_cert(&ca1, &["127.0.0.1"]);
        let (_other_cert, other_key) = node_cert(&ca1, &["127.0.0.1"]);
        let (_d, config, e) = load_err(&cert, &other_key, &ca1.pem);
        assert!(
            matches!(e, TlsError::KeyMismatch { cert: ref c, key: ref k } if *c == config.cert && *k == config.key),
            "{e}"
        );

        let ca2 = ca("another CA");
        let (cert2, key2) = node_cert(&ca2, &["127.0.0.1"]);
        let (_d, config, e) = load_err(&cert2, &key2, &ca1.pem);
        assert!(
            matches!(e, TlsError::Untrusted { ref cert, ref ca, .. } if *cert == config.cert && *ca == config.ca),
            "{e}"
        );
    }

    #[test]
    fn tls_config_reads_from_yaml_like_serde_and_rejects_unknown_fields() {
        let c: TlsConfig =
            serde_json::from_str(r#"{"cert":"a.pem","key":"a.key","ca":"ca.pem"}"#).unwrap();
        assert_eq!(c, TlsConfig::new("a.pem", "a.key", "ca.pem"));
        let e = serde_json::from_str::<TlsConfig>(r#"{"cert":"a","key":"b","ca":"c","x":1}"#);
        assert!(e.is_err());
        let rel =
            TlsConfig::new("a.pem", "/abs/a.key", "ca.pem").relative_to(Path::new("/etc/troupe"));
        assert_eq!(
            rel,
            TlsConfig::new("/etc/troupe/a.pem", "/abs/a.key", "/etc/troupe/ca.pem")
        );
    }
}

//! Mutual TLS on the transport, with real sockets on 127.0.0.1 and certificates made at test
//! time (rcgen): TLS nodes link and call each other; a node whose certificate comes from
//! another CA, or a node without TLS, never links; the server side refuses a client
//! certificate from another CA; bad files stop a node with a typed error naming the file; a
//! silent TCP connection, or one that sends no TLS, holds up no inbound session and is closed;
//! a stopped TLS transport frees its port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{json, Value};
use troupe_cluster::membership::MembershipConfig;
use troupe_cluster::node::{ClusterConfig, ClusterError, ClusterNode};
use troupe_cluster::registry::NodeName;
use troupe_cluster::transport::tls::HANDSHAKE_TIMEOUT;
use troupe_cluster::transport::{
    FrameSink, LinkEvent, TlsConfig, TlsError, TlsFile, TlsSetup, Transport,
};
use troupe_runtime::{Runtime, RuntimeConfig};

/// A CA with a directory for the files of the certificates it signs.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let ca_pem = params.self_signed(&key).unwrap().pem();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
        Pki {
            dir,
            ca_pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// Makes `NAME.pem` and `NAME.key`, a certificate for `ip` signed by this CA, and returns
    /// a config naming them and this CA.
    fn node(&self, name: &str, ip: &str) -> TlsConfig {
        let mut params = CertificateParams::new(vec![ip.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let dir = self.dir.path();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        TlsConfig::new(format!("{name}.pem"), format!("{name}.key"), "ca.pem").relative_to(dir)
    }
}

fn config(name: &str, seeds: &[&ClusterNode], tls: Option<TlsConfig>) -> ClusterConfig {
    let any = "127.0.0.1:0".parse().unwrap();
    let mut config = ClusterConfig::new(name, any, any, "test-cookie")
        .with_seeds(seeds.iter().map(|s| s.gossip_addr()));
    config.membership = MembershipConfig::lan();
    config.tls = tls;
    config
}

async fn start(config: ClusterConfig) -> Result<ClusterNode, ClusterError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let rt = Runtime::start(RuntimeConfig::named(config.name.clone()))
        .await
        .unwrap();
    troupe_agents::register_all(rt.kinds());
    match ClusterNode::start(config, rt.clone()).await {
        Ok(node) => Ok(node),
        Err(e) => {
            rt.shutdown().await;
            Err(e)
        }
    }
}

async fn node(name: &str, seeds: &[&ClusterNode], tls: Option<TlsConfig>) -> ClusterNode {
    start(config(name, seeds, tls)).await.unwrap()
}

/// Waits until `cond` holds (a failure guard, not a timing assertion).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn linked_to(n: &ClusterNode, peer: &NodeName) -> bool {
    n.linked().contains(peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_nodes_link_and_call_each_other() {
    let pki = Pki::new("troupe test CA");
    let a = node("tls-a", &[], Some(pki.node("tls-a", "127.0.0.1"))).await;
    let b = node("tls-b", &[&a], Some(pki.node("tls-b", "127.0.0.1"))).await;
    eventually("both nodes linked over TLS", || {
        linked_to(&a, b.name()) && linked_to(&b, a.name())
    })
    .await;
    // Spawned on b from a, called from a: both cross the TLS session.
    a.spawn_on(b.name(), "util.counter", "tls-counter", Value::Null, false)
        .await
        .unwrap();
    let r = a.call("tls-counter", json!({"add": 5})).await.unwrap();
    assert_eq!(r["total"], 5);
    let r = b.call("tls-counter", json!(2)).await.unwrap();
    assert_eq!(r["total"], 7);
    assert_eq!(a.locate("tls-counter").unwrap().node, *b.name());
    a.shutdown().await;
    b.shutdown().await;
}

/// Starts `a` (TLS, CA `pki`), then `good` (same CA) and `outsider` both joining through `a`.
/// Once membership has all three and `good` is linked (TLS handshakes are being made), the
/// outsider must stay unlinked from `a` and `good`, in both directions, for a bounded window in
/// which its dial loops retry several times.
async fn outsider_never_links(pki: &Pki, outsider_tls: Option<TlsConfig>, tag: &str) {
    let a = node(
        &format!("{tag}-a"),
        &[],
        Some(pki.node(&format!("{tag}-a"), "127.0.0.1")),
    )
    .await;
    let good = node(
        &format!("{tag}-good"),
        &[&a],
        Some(pki.node(&format!("{tag}-good"), "127.0.0.1")),
    )
    .await;
    let outsider = node(&format!("{tag}-outsider"), &[&a], outsider_tls).await;
    eventually("membership sees all three nodes", || {
        a.members().len() == 3 && good.members().len() == 3 && outsider.members().len() == 3
    })
    .await;
    eventually("the node with the cluster's CA links", || {
        linked_to(&a, good.name()) && linked_to(&good, a.name())
    })
    .await;
    let window = Instant::now() + Duration::from_secs(3);
    while Instant::now() < window {
        assert!(!linked_to(&a, outsider.name()), "a linked to the outsider");
        assert!(
            !linked_to(&good, outsider.name()),
            "good linked to the outsider"
        );
        assert!(
            outsider.linked().is_empty(),
            "the outsider linked: {:?}",
            outsider.linked()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Still a member as far as membership goes: only the transport refused it.
    assert!(a.members().iter().any(|m| &m.name == outsider.name()));
    outsider.shutdown().await;
    good.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_certificate_from_another_ca_never_links() {
    let pki = Pki::new("troupe test CA");
    let other = Pki::new("another CA");
    outsider_never_links(&pki, Some(other.node("ca-outsider", "127.0.0.1")), "ca").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_tls_never_links_to_a_tls_cluster() {
    let pki = Pki::new("troupe test CA");
    outsider_never_links(&pki, None, "plain").await;
}

/// One TLS handshake over loopback: `acceptor`'s result (the server side's verdict).
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    client: rustls::ClientConfig,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let dial = tokio::spawn(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let mut tls = connector
            .connect(TlsSetup::server_name(addr.ip()), tcp)
            .await?;
        // TLS 1.3: the server judges the client certificate after the client finished; read
        // to see its verdict arrive (or the server's byte).
        tls.write_all(b"x").await?;
        let mut buf = [0u8; 1];
        tls.read_exact(&mut buf).await.map(|_| ())
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let accepted = async {
        let mut tls = acceptor.accept(tcp).await?;
        let mut buf = [0u8; 1];
        tls.read_exact(&mut buf).await?;
        tls.write_all(b"y").await?;
        tls.flush().await
    };
    let server = tokio::time::timeout(Duration::from_secs(10), accepted)
        .await
        .expect("server side hung");
    let client = tokio::time::timeout(Duration::from_secs(10), dial)
        .await
        .expect("client side hung")
        .unwrap();
    assert_eq!(
        server.is_ok(),
        client.is_ok(),
        "server {server:?}, client {client:?}"
    );
    server
}

fn client_config(ca_pem: &str, identity: Option<&TlsConfig>) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = CertificateDer::pem_file_iter(&id.cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(&id.key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_side_requires_a_client_certificate_from_the_cluster_ca() {
    let pki = Pki::new("troupe test CA");
    let server = pki.node("srv", "127.0.0.1").load().unwrap();
    let member = pki.node("member", "127.0.0.1");
    let other = Pki::new("another CA");
    let stranger = other.node("stranger", "127.0.0.1");

    // A client that trusts the cluster's CA and presents a certificate it signed: accepted.
    handshake(server.acceptor(), client_config(&pki.ca_pem, Some(&member)))
        .await
        .expect("a member's handshake failed");
    // Trusts the cluster's CA but presents a certificate from another CA: refused.
    let e = handshake(
        server.acceptor(),
        client_config(&pki.ca_pem, Some(&stranger)),
    )
    .await
    .expect_err("a certificate from another CA was accepted");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    // No client certificate at all: refused.
    let e = handshake(server.acceptor(), client_config(&pki.ca_pem, None))
        .await
        .expect_err("a client without a certificate was accepted");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_file_stops_the_node_with_an_error_naming_it() {
    let pki = Pki::new("troupe test CA");
    let tls = pki.node("nokey", "127.0.0.1");
    std::fs::remove_file(&tls.key).unwrap();
    let e = match start(config("nokey", &[], Some(tls.clone()))).await {
        Ok(_) => panic!("a node started without its key file"),
        Err(e) => e,
    };
    match &e {
        ClusterError::Tls(TlsError::Read { file, path, error }) => {
            assert_eq!(*file, TlsFile::Key);
            assert_eq!(path, &tls.key);
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(
        e.to_string().contains(&tls.key.display().to_string()),
        "{e}"
    );
    assert!(e.to_string().contains("private key"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_without_the_node_ip_stops_the_node() {
    let pki = Pki::new("troupe test CA");
    let tls = pki.node("wrong-ip", "127.0.0.2");
    let e = match start(config("wrong-ip", &[], Some(tls.clone()))).await {
        Ok(_) => panic!("a node started with a certificate for another address"),
        Err(e) => e,
    };
    assert!(
        matches!(&e, ClusterError::Tls(TlsError::WrongAddress { cert, ip, .. })
            if *cert == tls.cert && ip.to_string() == "127.0.0.1"),
        "unexpected error: {e}"
    );
}

/// A silent connection to a node whose peers also dial it: the two nodes link (with either
/// direction's session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_does_not_keep_nodes_from_linking() {
    let pki = Pki::new("troupe test CA");
    let a = node("silent-a", &[], Some(pki.node("silent-a", "127.0.0.1"))).await;
    // A TCP connection to a's transport that never starts a TLS handshake.
    let _silent = tokio::net::TcpStream::connect(a.listen_addr())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = node("silent-b", &[&a], Some(pki.node("silent-b", "127.0.0.1"))).await;
    eventually("a and b linked despite the silent connection", || {
        linked_to(&a, b.name()) && linked_to(&b, a.name())
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

/// Frames are not looked at by these tests.
struct NoFrames;

impl FrameSink for NoFrames {
    fn on_frame(&self, _: Vec<u8>) {}
}

/// A bare TLS transport on a free port of 127.0.0.1, with a certificate for that address.
async fn tls_transport(
    pki: &Pki,
    name: &str,
) -> (
    Transport,
    tokio::sync::mpsc::UnboundedReceiver<LinkEvent>,
    SocketAddr,
) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (transport, events) = start_tls(pki, name, addr).await.unwrap();
    (transport, events, addr)
}

/// Starts a bare TLS transport on `addr` with a certificate for 127.0.0.1.
async fn start_tls(
    pki: &Pki,
    name: &str,
    addr: SocketAddr,
) -> Result<
    (Transport, tokio::sync::mpsc::UnboundedReceiver<LinkEvent>),
    troupe_cluster::transport::TransportError,
> {
    let tls = pki.node(name, "127.0.0.1").load().unwrap();
    Transport::start_on(
        NodeName::new(name),
        addr,
        "test-cookie".into(),
        Arc::new(NoFrames),
        None,
        Some(tls),
    )
    .await
}

/// Waits for `peer`'s [`LinkEvent::Up`] on `events`.
async fn link_up(events: &mut tokio::sync::mpsc::UnboundedReceiver<LinkEvent>, peer: &NodeName) {
    loop {
        match events.recv().await {
            Some(LinkEvent::Up(p)) if p == *peer => return,
            Some(_) => {}
            None => panic!("the transport's events ended"),
        }
    }
}

/// `b` dials `a` (so `a` accepts the session) and both see it up; the TLS handshake and the
/// cookie check happen on the way. Guarded by 30 s so that a stalled accept fails the test.
async fn b_dials_a(
    a: (
        &Transport,
        &mut tokio::sync::mpsc::UnboundedReceiver<LinkEvent>,
        SocketAddr,
    ),
    b: (
        &Transport,
        &mut tokio::sync::mpsc::UnboundedReceiver<LinkEvent>,
    ),
) {
    let (a, a_events, a_addr) = a;
    let (b, b_events) = b;
    tokio::time::timeout(Duration::from_secs(30), async {
        b.connect(a_addr).await.unwrap();
        link_up(b_events, a.name()).await;
        link_up(a_events, b.name()).await;
    })
    .await
    .expect("the session b opened to a did not come up");
    assert!(a.is_linked(b.name()) && b.is_linked(a.name()));
}

/// Reads from `stream` until the other side closes it (a failure guard of 30 s).
async fn closed_by_peer(stream: &mut tokio::net::TcpStream, what: &str) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what} was not closed");
}

/// A TLS node makes its inbound handshakes concurrently: a TCP connection that never speaks
/// holds up no session a peer opens to the node, and is closed once [`HANDSHAKE_TIMEOUT`] has
/// passed. Here only `b` dials, so the session must be one `a` accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_holds_up_no_inbound_tls_session_and_is_closed() {
    let pki = Pki::new("troupe test CA");
    let (a, mut a_events, a_addr) = tls_transport(&pki, "hold-a").await;
    let (b, mut b_events, _) = tls_transport(&pki, "hold-b").await;
    let opened = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(a_addr).await.unwrap();
    // Let a take the silent connection first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    b_dials_a((&a, &mut a_events, a_addr), (&b, &mut b_events)).await;
    closed_by_peer(&mut silent, "the silent connection").await;
    // Not a timing assertion: `a` closed it because it timed out, not for another reason.
    assert!(opened.elapsed() >= HANDSHAKE_TIMEOUT);
    b.stop().await;
    a.stop().await;
}

/// A connection that sends something other than a TLS ClientHello is closed at once and
/// does not affect the sessions that follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_tls_is_dropped_and_a_good_session_follows() {
    use tokio::io::AsyncWriteExt;
    let pki = Pki::new("troupe test CA");
    let (a, mut a_events, a_addr) = tls_transport(&pki, "garbage-a").await;
    let (b, mut b_events, _) = tls_transport(&pki, "garbage-b").await;
    let mut garbage = tokio::net::TcpStream::connect(a_addr).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: troupe\r\n\r\n")
        .await
        .unwrap();
    closed_by_peer(&mut garbage, "the connection that sent no TLS").await;
    b_dials_a((&a, &mut a_events, a_addr), (&b, &mut b_events)).await;
    b.stop().await;
    a.stop().await;
}

/// A stopped TLS transport has released its listen port: a transport can start on it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_tls_transport_frees_its_port() {
    let pki = Pki::new("troupe test CA");
    let (a, _a_events, a_addr) = tls_transport(&pki, "port-a").await;
    a.stop().await;
    let (again, _) = start_tls(&pki, "port-a2", a_addr)
        .await
        .expect("the port of a stopped transport is still taken");
    again.stop().await;
}

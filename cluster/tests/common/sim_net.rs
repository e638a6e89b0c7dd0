//! turmoil's simulated network as the cluster's sockets, counting what each side sends.
//!
//! [`SimSocket`] is the membership shell's UDP socket, [`SimNet`] the transport's stream
//! network. Both add to a [`Traffic`] (one per simulation, no global state): every datagram
//! sent, and every frame written to a stream (ractor_cluster frames are a u64 big-endian
//! length and that many bytes; the writer parses the outgoing bytes to count whole frames).

#![allow(dead_code)] // each test crate uses a part of it

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use troupe_cluster::membership::DatagramSocket;
use troupe_cluster::transport::StreamNet;
use troupe_runtime::BoxFuture;

/// Messages sent by every node of one simulation.
#[derive(Default, Debug)]
pub struct Traffic {
    datagrams: AtomicU64,
    frames: AtomicU64,
}

/// A reading of [`Traffic`]; subtract two to count a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Membership datagrams sent.
    pub datagrams: u64,
    /// Transport frames written.
    pub frames: u64,
}

impl Traffic {
    /// What has been sent so far.
    pub fn counts(&self) -> Counts {
        Counts {
            datagrams: self.datagrams.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
        }
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            datagrams: self.datagrams - earlier.datagrams,
            frames: self.frames - earlier.frames,
        }
    }
}

/// turmoil's UDP socket, as the membership shell's socket, counting datagrams sent.
pub struct SimSocket(pub turmoil::net::UdpSocket, pub Arc<Traffic>);

impl DatagramSocket for SimSocket {
    fn send_to(
        &self,
        buf: &[u8],
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        self.1.datagrams.fetch_add(1, Ordering::Relaxed);
        self.0.send_to(buf, to)
    }
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        self.0.recv_from(buf)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A stream's write half that counts the length-prefixed frames passing through it.
struct FrameCounter<W> {
    inner: W,
    traffic: Arc<Traffic>,
    /// Header bytes read so far of the frame being written (0..8).
    header: [u8; 8],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    payload: u64,
}

impl<W> FrameCounter<W> {
    fn saw(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload > 0 {
                let n = (self.payload.min(bytes.len() as u64)) as usize;
                self.payload -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let n = (8 - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == 8 {
                self.have = 0;
                self.payload = u64::from_be_bytes(self.header);
                self.traffic.frames.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for FrameCounter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            let n = *n;
            self.saw(&buf[..n]);
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

struct SimStream(turmoil::net::TcpStream, Arc<Traffic>);

impl ractor_cluster::ClusterBidiStream for SimStream {
    fn split(self: Box<Self>) -> (ractor_cluster::BoxRead, ractor_cluster::BoxWrite) {
        let (r, w) = self.0.into_split();
        let w = FrameCounter {
            inner: w,
            traffic: self.1,
            header: [0; 8],
            have: 0,
            payload: 0,
        };
        (Box::new(r), Box::new(w))
    }
}

/// turmoil's TCP, as the transport's stream network, counting frames written.
pub struct SimNet(
    pub tokio::sync::Mutex<turmoil::net::TcpListener>,
    pub Arc<Traffic>,
);

impl StreamNet for SimNet {
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> BoxFuture<'static, io::Result<Box<dyn ractor_cluster::ClusterBidiStream>>> {
        let traffic = self.1.clone();
        Box::pin(async move {
            let s = turmoil::net::TcpStream::connect(addr).await?;
            Ok(Box::new(SimStream(s, traffic)) as Box<dyn ractor_cluster::ClusterBidiStream>)
        })
    }
    fn accept(&self) -> BoxFuture<'_, io::Result<Box<dyn ractor_cluster::ClusterBidiStream>>> {
        Box::pin(async move {
            let (s, _) = self.0.lock().await.accept().await?;
            Ok(Box::new(SimStream(s, self.1.clone()))
                as Box<dyn ractor_cluster::ClusterBidiStream>)
        })
    }
}

//! Fault injection for chaos and partition tests: a node can be cut off from chosen peers'
//! membership traffic. Membership then declares them down on both sides, sessions are dropped
//! and not re-dialled; healing restores traffic and the sides rejoin and merge.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::membership::DatagramSocket;

/// The set of gossip addresses this node neither hears from nor sends to.
#[derive(Clone, Default)]
pub(crate) struct Blocklist(Arc<RwLock<HashSet<SocketAddr>>>);

impl Blocklist {
    pub(crate) fn set(&self, addrs: impl IntoIterator<Item = SocketAddr>) {
        *self.0.write() = addrs.into_iter().collect();
    }

    fn blocks(&self, addr: &SocketAddr) -> bool {
        let set = self.0.read();
        !set.is_empty() && set.contains(addr)
    }
}

/// A UDP socket that silently drops datagrams to and from blocked addresses.
pub(crate) struct FilteredSocket<S> {
    pub(crate) socket: S,
    pub(crate) blocked: Blocklist,
}

impl<S: DatagramSocket> DatagramSocket for FilteredSocket<S> {
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        if self.blocked.blocks(&target) {
            return Ok(buf.len());
        }
        self.socket.send_to(buf, target).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            if !self.blocked.blocks(&from) {
                return Ok((n, from));
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

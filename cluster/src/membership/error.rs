//! [`MembershipError`]: everything membership can refuse or fail at.

use super::codec::CodecError;
use crate::ConfigError;

/// A membership error. Datagram errors ([`TooLarge`](Self::TooLarge),
/// [`Malformed`](Self::Malformed), [`FromSelf`](Self::FromSelf), [`Protocol`](Self::Protocol))
/// are per-datagram and never fatal: the datagram is dropped and nothing changes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// A datagram larger than `MembershipConfig::max_packet_size`.
    #[error("membership datagram of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size of the datagram.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// Bytes that are not a well-formed membership datagram of this wire version.
    #[error(transparent)]
    Malformed(#[from] CodecError),
    /// A datagram claiming to come from this node's own name.
    #[error("membership datagram claims to come from this node itself")]
    FromSelf,
    /// A well-formed datagram the protocol rejects (e.g. an indirect probe about ourselves).
    #[error("membership protocol error: {0}")]
    Protocol(String),
    /// A configuration that fails [`MembershipConfig::validate`](super::MembershipConfig::validate).
    #[error("invalid membership configuration: {0}")]
    InvalidConfig(ConfigError),
    /// An identity that cannot be a member (empty name, zero capacity, too large to fit a
    /// datagram).
    #[error("invalid node identity: {0}")]
    InvalidIdentity(ConfigError),
    /// The socket failed (binding, or reading its local address).
    #[error("membership socket error: {0}")]
    Io(#[from] std::io::Error),
}

impl MembershipError {
    /// Maps foca's error, recovering our own [`CodecError`] from its boxed decode errors.
    pub(crate) fn from_foca(error: foca::Error) -> Self {
        match error {
            foca::Error::DataTooBig => Self::Protocol("datagram too big".into()),
            foca::Error::DataFromOurselves => Self::FromSelf,
            foca::Error::MalformedPacket => Self::Malformed(CodecError::Trailing(1)),
            foca::Error::Decode(e) => match e.downcast::<CodecError>() {
                Ok(codec) => Self::Malformed(*codec),
                Err(other) => Self::Protocol(other.to_string()),
            },
            foca::Error::Encode(e) => Self::Protocol(format!("cannot encode a reply: {e}")),
            other => Self::Protocol(other.to_string()),
        }
    }
}

//! Agent state snapshots: the bytes an agent's state is saved as, so that it survives a restart
//! and (later) a move to another node. Encoded with rmp-serde as a map (field names, not
//! positions), so adding an optional field does not break old snapshots.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// An encoded agent state.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    bytes: Vec<u8>,
}

/// A state could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("snapshot {op} failed: {reason}")]
pub struct SnapshotError {
    op: &'static str,
    reason: String,
}

impl Snapshot {
    /// Encodes a state (MessagePack, struct fields by name).
    pub fn encode<T: Serialize + ?Sized>(state: &T) -> Result<Self, SnapshotError> {
        rmp_serde::to_vec_named(state)
            .map(|bytes| Self { bytes })
            .map_err(|e| SnapshotError {
                op: "encode",
                reason: e.to_string(),
            })
    }

    /// Decodes the state back.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, SnapshotError> {
        rmp_serde::from_slice(&self.bytes).map_err(|e| SnapshotError {
            op: "decode",
            reason: e.to_string(),
        })
    }

    /// Wraps bytes produced by [`Snapshot::as_bytes`] (for example received from another node).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { bytes }
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Size of the encoded state in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the encoding is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snapshot({} bytes)", self.bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Counter {
        n: u64,
        label: String,
    }

    #[test]
    fn round_trips_a_state() {
        let s = Counter {
            n: 7,
            label: "x".into(),
        };
        let snap = Snapshot::encode(&s).unwrap();
        assert_eq!(snap.decode::<Counter>().unwrap(), s);
    }

    #[test]
    fn decoding_garbage_is_an_error_not_a_panic() {
        let snap = Snapshot::from_bytes(vec![0xc1, 0xff, 0x00]);
        let err = snap.decode::<Counter>().unwrap_err();
        assert!(err.to_string().contains("decode"), "{err}");
    }
}

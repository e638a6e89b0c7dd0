//! CRC-32 (IEEE) checksums over stored records. SQLite and PostgreSQL do not checksum row
//! contents, so a flipped byte in a payload would otherwise read back as a silently different
//! event; every journal entry and snapshot is stored with the checksum of its identity and
//! contents and verified when read.

const TABLE: [u32; 256] = table();

const fn table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// A running CRC-32 over length-prefixed fields (so field boundaries count).
pub(crate) struct Checksum(u32);

impl Checksum {
    pub(crate) fn new() -> Self {
        Self(0xFFFF_FFFF)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = TABLE[((self.0 ^ u32::from(b)) & 0xFF) as usize] ^ (self.0 >> 8);
        }
    }

    /// Adds a field.
    pub(crate) fn field(mut self, bytes: &[u8]) -> Self {
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
        self
    }

    /// Adds a number.
    pub(crate) fn num(mut self, n: u64) -> Self {
        self.bytes(&n.to_le_bytes());
        self
    }

    /// The checksum, as stored (a non-negative BIGINT).
    pub(crate) fn value(self) -> i64 {
        i64::from(self.0 ^ 0xFFFF_FFFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        let mut c = Checksum::new();
        c.bytes(b"123456789");
        assert_eq!(c.value(), 0xCBF4_3926);
    }

    #[test]
    fn field_boundaries_count() {
        let a = Checksum::new().field(b"ab").field(b"c").value();
        let b = Checksum::new().field(b"a").field(b"bc").value();
        assert_ne!(a, b);
    }
}

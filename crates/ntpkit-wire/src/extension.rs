//! NTPv4 extension fields (RFC 5905 §7.5, RFC 7822).
//!
//! An extension field is a 16-bit type, a 16-bit length (octets, counting the 4-byte
//! field header and any padding), and a body padded with zeros to a multiple of 4.
//! RFC 7822 adds: every field is at least 16 octets, and when no MAC follows, the last
//! field is at least 28 octets so that it cannot be mistaken for a 20- or 24-byte MAC.

use std::fmt;

/// Smallest extension field (RFC 7822 §3).
pub const MIN_FIELD_LEN: usize = 16;
/// Smallest last extension field when no MAC follows (RFC 7822 §3).
pub const MIN_LAST_FIELD_LEN: usize = 28;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ExtensionField {
    pub field_type: u16,
    /// Everything after the 4-byte field header, padding included; its length is a
    /// multiple of 4 when the field came off the wire.
    pub body: Vec<u8>,
}

impl fmt::Debug for ExtensionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ExtensionField {{ type: {:#06x}, body: ",
            self.field_type
        )?;
        for b in &self.body {
            write!(f, "{b:02x}")?;
        }
        write!(f, " }}")
    }
}

/// Why an extension field could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error(
        "extension field at offset {offset}: only {available} bytes left, need a 4-byte header"
    )]
    Truncated { offset: usize, available: usize },
    #[error("extension field at offset {offset}: length {length} is not a multiple of 4")]
    Unaligned { offset: usize, length: usize },
    #[error("extension field at offset {offset}: length {length} is below the minimum of 16")]
    TooShort { offset: usize, length: usize },
    #[error("extension field at offset {offset}: length {length} runs past the end ({available} bytes left)")]
    Overrun {
        offset: usize,
        length: usize,
        available: usize,
    },
}

impl ExtensionField {
    /// A field carrying `value`, zero-padded to a multiple of 4 and to the 16-octet minimum.
    pub fn new(field_type: u16, value: &[u8]) -> ExtensionField {
        let mut body = value.to_vec();
        let padded = (4 + body.len()).next_multiple_of(4).max(MIN_FIELD_LEN);
        body.resize(padded - 4, 0);
        ExtensionField { field_type, body }
    }

    /// Length on the wire with the body padded as [`ExtensionField::new`] would, and at
    /// least `min` octets.
    pub fn wire_len(&self, min: usize) -> usize {
        (4 + self.body.len()).next_multiple_of(4).max(min)
    }

    /// Read one field at the start of `buf` (`offset` only labels errors). Returns the
    /// field and its length on the wire.
    pub fn parse(buf: &[u8], offset: usize) -> Result<(ExtensionField, usize), ExtensionError> {
        if buf.len() < 4 {
            return Err(ExtensionError::Truncated {
                offset,
                available: buf.len(),
            });
        }
        let field_type = u16::from_be_bytes([buf[0], buf[1]]);
        let length = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if length % 4 != 0 {
            return Err(ExtensionError::Unaligned { offset, length });
        }
        if length < MIN_FIELD_LEN {
            return Err(ExtensionError::TooShort { offset, length });
        }
        let Some(body) = buf.get(4..length) else {
            return Err(ExtensionError::Overrun {
                offset,
                length,
                available: buf.len(),
            });
        };
        Ok((
            ExtensionField {
                field_type,
                body: body.to_vec(),
            },
            length,
        ))
    }

    /// Append the field, zero-padded to a multiple of 4 and at least `min` octets (16, or
    /// 28 for the last field when no MAC follows). Bodies longer than a 16-bit length can
    /// describe are cut (they cannot be expressed on the wire).
    pub fn write(&self, out: &mut Vec<u8>, min: usize) {
        let max_body = 0xfffc - 4;
        let body = &self.body[..self.body.len().min(max_body)];
        let len = (4 + body.len()).next_multiple_of(4).max(min);
        out.extend_from_slice(&self.field_type.to_be_bytes());
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + (len - 4 - body.len()), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_pads_to_minimum_and_alignment() {
        assert_eq!(ExtensionField::new(1, b"").body.len(), 12);
        assert_eq!(ExtensionField::new(1, &[1; 13]).body.len(), 16);
        let mut out = Vec::new();
        ExtensionField::new(0x0104, b"abc").write(&mut out, MIN_LAST_FIELD_LEN);
        assert_eq!(out.len(), 28);
        assert_eq!(&out[..4], &[0x01, 0x04, 0, 28]);
        let (f, n) = ExtensionField::parse(&out, 48).unwrap();
        assert_eq!(n, 28);
        assert_eq!(&f.body[..3], b"abc");
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert!(matches!(
            ExtensionField::parse(&[0, 1, 0], 48),
            Err(ExtensionError::Truncated { .. })
        ));
        assert!(matches!(
            ExtensionField::parse(&[0, 1, 0, 18, 0, 0], 48),
            Err(ExtensionError::Unaligned { length: 18, .. })
        ));
        assert!(matches!(
            ExtensionField::parse(&[0, 1, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0], 48),
            Err(ExtensionError::TooShort { length: 12, .. })
        ));
        assert!(matches!(
            ExtensionField::parse(&[0, 1, 0, 16, 0, 0, 0, 0], 48),
            Err(ExtensionError::Overrun { .. })
        ));
    }
}

//! A response split into datagrams of at most [`MAX_DATA_LEN`] data bytes, and put back
//! together from fragments arriving in any order.

use super::header::{encode, ControlHeader, ErrorCode, Opcode, Packet};
use super::{MAX_DATA_LEN, MAX_FRAGMENTS};

/// Split a response into datagrams of at most `MAX_DATA_LEN` data bytes each: M set on all
/// but the last, offsets advancing by count. An empty body still makes one datagram.
pub fn fragment(header: &ControlHeader, body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    loop {
        let end = (offset + MAX_DATA_LEN).min(body.len());
        let mut h = *header;
        h.offset = offset as u16;
        h.more = end < body.len();
        out.push(encode(&h, &body[offset..end]));
        offset = end;
        if offset >= body.len() {
            return out;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    #[error("server error {}", .0 .0)]
    Server(ErrorCode, u16),
    #[error("response has more than {MAX_FRAGMENTS} fragments")]
    TooManyFragments,
    #[error("fragments overlap or disagree about the end of the response")]
    Inconsistent,
}

/// What a datagram meant to the reassembler.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Not a response to our request (wrong sequence/opcode/mode, or a request): ignore it,
    /// as ntpq does, and keep waiting.
    Ignored,
    /// A fragment we already had.
    Duplicate,
    /// Stored; more are needed.
    Partial,
    /// Every byte from 0 to the end of the last fragment is here.
    Complete(Response),
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub header: ControlHeader,
    pub data: Vec<u8>,
}

/// Collects the fragments of one response in any order, ignoring duplicates, refusing
/// overlaps; complete only once the fragment without M has arrived and no gap remains.
#[derive(Debug)]
pub struct Reassembler {
    sequence: u16,
    opcode: Opcode,
    /// (offset, data) sorted by offset.
    fragments: Vec<(usize, Vec<u8>)>,
    end: Option<usize>,
    first: Option<ControlHeader>,
}

impl Reassembler {
    pub fn new(sequence: u16, opcode: Opcode) -> Reassembler {
        Reassembler {
            sequence,
            opcode,
            fragments: Vec::new(),
            end: None,
            first: None,
        }
    }

    /// Whether any fragment arrived (ntpq then waits the shorter timeout for the rest).
    pub fn started(&self) -> bool {
        !self.fragments.is_empty()
    }

    pub fn accept(&mut self, datagram: &[u8]) -> Result<Accepted, ReassemblyError> {
        let Ok(p) = Packet::decode(datagram) else {
            return Ok(Accepted::Ignored);
        };
        let h = p.header;
        if !h.response || h.sequence != self.sequence || h.opcode != self.opcode {
            return Ok(Accepted::Ignored);
        }
        if h.error {
            return Err(ReassemblyError::Server(h.error_code(), h.assoc_id));
        }
        let offset = h.offset as usize;
        let end = offset + p.data.len();
        if let Some(known_end) = self.end {
            if end > known_end || (!h.more && end != known_end) {
                return Err(ReassemblyError::Inconsistent);
            }
        }
        let idx = self.fragments.partition_point(|(o, _)| *o < offset);
        if let Some((o, d)) = self.fragments.get(idx) {
            if *o == offset {
                return if d.as_slice() == p.data {
                    Ok(Accepted::Duplicate)
                } else {
                    Err(ReassemblyError::Inconsistent)
                };
            }
            if *o < end {
                return Err(ReassemblyError::Inconsistent);
            }
        }
        if idx > 0 {
            let (po, pd) = &self.fragments[idx - 1];
            if po + pd.len() > offset {
                return Err(ReassemblyError::Inconsistent);
            }
        }
        if !h.more {
            if self
                .fragments
                .last()
                .is_some_and(|(o, d)| o + d.len() > end)
            {
                return Err(ReassemblyError::Inconsistent);
            }
            self.end = Some(end);
        }
        if self.fragments.len() >= MAX_FRAGMENTS {
            return Err(ReassemblyError::TooManyFragments);
        }
        self.fragments.insert(idx, (offset, p.data.to_vec()));
        if offset == 0 || self.first.is_none() {
            self.first = Some(h);
        }
        let Some(end) = self.end else {
            return Ok(Accepted::Partial);
        };
        let mut next = 0;
        for (o, d) in &self.fragments {
            if *o != next {
                return Ok(Accepted::Partial);
            }
            next += d.len();
        }
        if next != end {
            return Ok(Accepted::Partial);
        }
        let mut data = Vec::with_capacity(end);
        for (_, d) in self.fragments.drain(..) {
            data.extend_from_slice(&d);
        }
        let mut header = self.first.unwrap_or(h);
        header.more = false;
        header.offset = 0;
        header.count = data.len().min(u16::MAX as usize) as u16;
        Ok(Accepted::Complete(Response { header, data }))
    }
}

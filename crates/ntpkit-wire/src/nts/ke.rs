//! NTS-KE records and messages (RFC 8915 §4).
//!
//! A record is a 16-bit word (critical bit, then a 15-bit type), a 16-bit body length and
//! the body. A message is records up to and including End of Message. An unknown record
//! with the critical bit set makes the whole message an error (the server answers with
//! error 0, a client gives up on that server); unknown non-critical records are ignored.
//!
//! [`message_len`] finds the end of a message in a stream buffer, so a reader knows when
//! it has read a whole message; [`Request::decode`] and [`Response::decode`] then check
//! the rules of §4.1 (request) and §4.2 (response).

use std::fmt;

/// The largest message either side accepts: far above any real one (a response with
/// eight 100-byte cookies is about 1 KB), small enough to bound a reader's buffer.
pub const MAX_MESSAGE_LEN: usize = 16384;

const CRITICAL: u16 = 0x8000;

/// Record types (RFC 8915 §7.6).
pub mod rtype {
    pub const END_OF_MESSAGE: u16 = 0;
    pub const NEXT_PROTOCOL: u16 = 1;
    pub const ERROR: u16 = 2;
    pub const WARNING: u16 = 3;
    pub const AEAD: u16 = 4;
    pub const NEW_COOKIE: u16 = 5;
    pub const SERVER: u16 = 6;
    pub const PORT: u16 = 7;
}

/// Error codes (RFC 8915 §4.1.3).
pub mod error_code {
    pub const UNRECOGNIZED_CRITICAL: u16 = 0;
    pub const BAD_REQUEST: u16 = 1;
    pub const INTERNAL_SERVER_ERROR: u16 = 2;
}

/// A record as on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub critical: bool,
    /// The 15-bit record type.
    pub rtype: u16,
    pub body: Vec<u8>,
}

impl fmt::Debug for RawRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RawRecord {{ type: {}{}, body: ",
            self.rtype,
            if self.critical { " (critical)" } else { "" }
        )?;
        for b in &self.body {
            write!(f, "{b:02x}")?;
        }
        write!(f, " }}")
    }
}

/// A record, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    EndOfMessage,
    /// Protocol ids, preferred first (0 = NTPv4).
    NextProtocol(Vec<u16>),
    Error(u16),
    Warning(u16),
    /// AEAD algorithm ids, preferred first.
    Aead(Vec<u16>),
    NewCookie(Vec<u8>),
    /// NTPv4 server negotiation: a host name or an address in text.
    Server(String),
    /// NTPv4 port negotiation.
    Port(u16),
    /// A record type this module does not know (always non-critical once decoded: a
    /// critical one is an error).
    Unknown {
        rtype: u16,
        body: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeError {
    #[error("NTS-KE record at offset {offset}: {available} bytes left, need a 4-byte header")]
    Truncated { offset: usize, available: usize },
    #[error("NTS-KE record at offset {offset}: body of {length} bytes runs past the end ({available} bytes left)")]
    Overrun {
        offset: usize,
        length: usize,
        available: usize,
    },
    #[error("NTS-KE message longer than {MAX_MESSAGE_LEN} bytes")]
    TooLong,
    #[error("NTS-KE message has no End of Message record")]
    NoEnd,
    #[error("NTS-KE message has {0} bytes after End of Message")]
    TrailingData(usize),
    #[error("NTS-KE record type {rtype}: body of {length} bytes is malformed ({what})")]
    BadBody {
        rtype: u16,
        length: usize,
        what: &'static str,
    },
    #[error("NTS-KE record type {0} is critical and not understood")]
    UnrecognizedCritical(u16),
    #[error("NTS-KE record type {0} must have the critical bit set")]
    MustBeCritical(u16),
    #[error("NTS-KE record type {0} must not have the critical bit set")]
    MustNotBeCritical(u16),
    #[error("NTS-KE record type {0} appears twice")]
    Duplicate(u16),
    #[error("NTS-KE message lacks the Next Protocol Negotiation record")]
    NoNextProtocol,
    #[error("NTS-KE response offers NTPv4 but lacks the AEAD Algorithm Negotiation record")]
    NoAead,
    #[error("NTS-KE record type {0} is not allowed in a {1}")]
    NotAllowed(u16, &'static str),
}

impl KeError {
    /// The error code a server sends back for a request that failed this way.
    pub fn code(&self) -> u16 {
        match self {
            KeError::UnrecognizedCritical(_) => error_code::UNRECOGNIZED_CRITICAL,
            _ => error_code::BAD_REQUEST,
        }
    }
}

impl RawRecord {
    /// Read one record at the start of `buf`; `Ok(None)` if `buf` ends inside it (read
    /// more). Returns the record and its length.
    pub fn parse(buf: &[u8]) -> Option<(RawRecord, usize)> {
        if buf.len() < 4 {
            return None;
        }
        let word = u16::from_be_bytes([buf[0], buf[1]]);
        let length = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        let body = buf.get(4..4 + length)?;
        Some((
            RawRecord {
                critical: word & CRITICAL != 0,
                rtype: word & !CRITICAL,
                body: body.to_vec(),
            },
            4 + length,
        ))
    }

    /// Append the record. Bodies longer than 65535 bytes are cut (they cannot be sent).
    pub fn write(&self, out: &mut Vec<u8>) {
        let body = &self.body[..self.body.len().min(usize::from(u16::MAX))];
        let word = (self.rtype & !CRITICAL) | if self.critical { CRITICAL } else { 0 };
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
}

fn u16_list(r: &RawRecord, what: &'static str) -> Result<Vec<u16>, KeError> {
    if r.body.len() % 2 != 0 {
        return Err(KeError::BadBody {
            rtype: r.rtype,
            length: r.body.len(),
            what,
        });
    }
    Ok(r.body
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

fn one_u16(r: &RawRecord, what: &'static str) -> Result<u16, KeError> {
    match r.body[..] {
        [a, b] => Ok(u16::from_be_bytes([a, b])),
        _ => Err(KeError::BadBody {
            rtype: r.rtype,
            length: r.body.len(),
            what,
        }),
    }
}

impl Record {
    /// Interpret a raw record. A critical record of unknown type is an error.
    pub fn from_raw(r: &RawRecord) -> Result<Record, KeError> {
        Ok(match r.rtype {
            rtype::END_OF_MESSAGE => {
                if !r.body.is_empty() {
                    return Err(KeError::BadBody {
                        rtype: r.rtype,
                        length: r.body.len(),
                        what: "End of Message has an empty body",
                    });
                }
                Record::EndOfMessage
            }
            rtype::NEXT_PROTOCOL => {
                Record::NextProtocol(u16_list(r, "a list of 16-bit protocol ids")?)
            }
            rtype::ERROR => Record::Error(one_u16(r, "one 16-bit error code")?),
            rtype::WARNING => Record::Warning(one_u16(r, "one 16-bit warning code")?),
            rtype::AEAD => Record::Aead(u16_list(r, "a list of 16-bit AEAD ids")?),
            rtype::NEW_COOKIE => Record::NewCookie(r.body.clone()),
            rtype::SERVER => {
                let ok = !r.body.is_empty() && r.body.iter().all(|b| b.is_ascii_graphic());
                let text = std::str::from_utf8(&r.body).ok().filter(|_| ok);
                match text {
                    Some(t) => Record::Server(t.to_string()),
                    None => {
                        return Err(KeError::BadBody {
                            rtype: r.rtype,
                            length: r.body.len(),
                            what: "a printable ASCII host name or address",
                        })
                    }
                }
            }
            rtype::PORT => Record::Port(one_u16(r, "one 16-bit port")?),
            other if r.critical => return Err(KeError::UnrecognizedCritical(other)),
            other => Record::Unknown {
                rtype: other,
                body: r.body.clone(),
            },
        })
    }

    /// The record on the wire with the critical bit `critical`.
    pub fn to_raw(&self, critical: bool) -> RawRecord {
        let list = |v: &[u16]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        let (rtype, body) = match self {
            Record::EndOfMessage => (rtype::END_OF_MESSAGE, Vec::new()),
            Record::NextProtocol(v) => (rtype::NEXT_PROTOCOL, list(v)),
            Record::Error(c) => (rtype::ERROR, c.to_be_bytes().to_vec()),
            Record::Warning(c) => (rtype::WARNING, c.to_be_bytes().to_vec()),
            Record::Aead(v) => (rtype::AEAD, list(v)),
            Record::NewCookie(c) => (rtype::NEW_COOKIE, c.clone()),
            Record::Server(s) => (rtype::SERVER, s.as_bytes().to_vec()),
            Record::Port(p) => (rtype::PORT, p.to_be_bytes().to_vec()),
            Record::Unknown { rtype, body } => (*rtype, body.clone()),
        };
        RawRecord {
            critical,
            rtype,
            body,
        }
    }
}

/// The length of the first whole message in `buf` (up to and including End of Message),
/// `Ok(None)` if more bytes are needed. Errors once the message would exceed
/// [`MAX_MESSAGE_LEN`].
pub fn message_len(buf: &[u8]) -> Result<Option<usize>, KeError> {
    let mut offset = 0;
    loop {
        if offset > MAX_MESSAGE_LEN {
            return Err(KeError::TooLong);
        }
        match RawRecord::parse(&buf[offset..]) {
            None => {
                // A record whose header already says it ends past the limit never will fit.
                if let [_, _, c, d, ..] = buf[offset..] {
                    let len = usize::from(u16::from_be_bytes([c, d]));
                    if offset + 4 + len > MAX_MESSAGE_LEN {
                        return Err(KeError::TooLong);
                    }
                }
                return Ok(None);
            }
            Some((r, n)) => {
                offset += n;
                if offset > MAX_MESSAGE_LEN {
                    return Err(KeError::TooLong);
                }
                if r.rtype == rtype::END_OF_MESSAGE {
                    return Ok(Some(offset));
                }
            }
        }
    }
}

/// Split a whole message into records, checking it ends with exactly one End of Message.
pub fn parse_records(buf: &[u8]) -> Result<Vec<RawRecord>, KeError> {
    if buf.len() > MAX_MESSAGE_LEN {
        return Err(KeError::TooLong);
    }
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let Some((r, n)) = RawRecord::parse(&buf[offset..]) else {
            let rest = &buf[offset..];
            return Err(if rest.len() < 4 {
                KeError::Truncated {
                    offset,
                    available: rest.len(),
                }
            } else {
                KeError::Overrun {
                    offset,
                    length: usize::from(u16::from_be_bytes([rest[2], rest[3]])),
                    available: rest.len() - 4,
                }
            });
        };
        offset += n;
        let end = r.rtype == rtype::END_OF_MESSAGE;
        out.push(r);
        if end {
            if offset != buf.len() {
                return Err(KeError::TrailingData(buf.len() - offset));
            }
            return Ok(out);
        }
    }
    Err(KeError::NoEnd)
}

fn encode(records: &[(Record, bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (r, critical) in records {
        r.to_raw(*critical).write(&mut out);
    }
    out
}

/// A client's request (RFC 8915 §4.1).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Request {
    /// Protocols the client supports, preferred first (NTPv4 = 0).
    pub next_protocols: Vec<u16>,
    /// AEAD ids the client supports, preferred first.
    pub aead: Vec<u16>,
    /// A server the client would like to use (rarely sent).
    pub server: Option<String>,
    pub port: Option<u16>,
}

impl Request {
    /// The request of an NTPv4 client offering `aead` (ids, preferred first).
    pub fn ntpv4(aead: &[u16]) -> Request {
        Request {
            next_protocols: vec![super::NEXT_PROTOCOL_NTPV4],
            aead: aead.to_vec(),
            server: None,
            port: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut recs = vec![(Record::NextProtocol(self.next_protocols.clone()), true)];
        recs.push((Record::Aead(self.aead.clone()), false));
        if let Some(s) = &self.server {
            recs.push((Record::Server(s.clone()), false));
        }
        if let Some(p) = self.port {
            recs.push((Record::Port(p), false));
        }
        recs.push((Record::EndOfMessage, true));
        encode(&recs)
    }

    /// Decode and check a whole request. A server answers an `Err(e)` with an Error record
    /// of code `e.code()`.
    pub fn decode(buf: &[u8]) -> Result<Request, KeError> {
        let mut req = Request::default();
        let (mut next, mut aead) = (None, None);
        for raw in parse_records(buf)? {
            let rec = Record::from_raw(&raw)?;
            match rec {
                Record::EndOfMessage | Record::NextProtocol(_) if !raw.critical => {
                    return Err(KeError::MustBeCritical(raw.rtype))
                }
                Record::NextProtocol(v) => set_once(&mut next, v, raw.rtype)?,
                Record::Aead(v) => set_once(&mut aead, v, raw.rtype)?,
                Record::Server(s) => set_once(&mut req.server, s, raw.rtype)?,
                Record::Port(p) => set_once(&mut req.port, p, raw.rtype)?,
                Record::Error(_) | Record::Warning(_) | Record::NewCookie(_) => {
                    return Err(KeError::NotAllowed(raw.rtype, "request"))
                }
                Record::EndOfMessage | Record::Unknown { .. } => {}
            }
        }
        req.next_protocols = next.ok_or(KeError::NoNextProtocol)?;
        // §4.1.5: a request offering NTPv4 must offer at least one algorithm; one without
        // the record is answered with "bad request" like any other malformed request.
        req.aead = aead.unwrap_or_default();
        if req.next_protocols.contains(&super::NEXT_PROTOCOL_NTPV4) && req.aead.is_empty() {
            return Err(KeError::NoAead);
        }
        Ok(req)
    }
}

/// A server's response (RFC 8915 §4.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Response {
    /// The protocol chosen; empty when the server supports none of the offered ones.
    pub next_protocols: Vec<u16>,
    /// The AEAD chosen (absent when no protocol was chosen).
    pub aead: Option<u16>,
    /// The AEAD record is present and empty: the server supports none of the algorithms
    /// offered (RFC 8915 §4.1.5); no cookies come with it.
    pub no_aead_in_common: bool,
    pub cookies: Vec<Vec<u8>>,
    pub server: Option<String>,
    pub port: Option<u16>,
    /// An Error record: the request failed and nothing else is meaningful.
    pub error: Option<u16>,
    pub warnings: Vec<u16>,
}

impl Response {
    /// A response carrying only an error.
    pub fn error(code: u16) -> Response {
        Response {
            error: Some(code),
            ..Response::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut recs = Vec::new();
        if let Some(code) = self.error {
            recs.push((Record::Error(code), true));
        } else {
            recs.push((Record::NextProtocol(self.next_protocols.clone()), true));
            for w in &self.warnings {
                recs.push((Record::Warning(*w), true));
            }
            if self.no_aead_in_common {
                recs.push((Record::Aead(Vec::new()), false));
            } else if let Some(a) = self.aead {
                recs.push((Record::Aead(vec![a]), false));
            }
            if let Some(s) = &self.server {
                recs.push((Record::Server(s.clone()), false));
            }
            if let Some(p) = self.port {
                recs.push((Record::Port(p), false));
            }
            for c in &self.cookies {
                recs.push((Record::NewCookie(c.clone()), false));
            }
        }
        recs.push((Record::EndOfMessage, true));
        encode(&recs)
    }

    /// Decode and check a whole response. A response with an Error record decodes to
    /// `Ok` with `error` set (the caller reports it); malformed ones are `Err`.
    pub fn decode(buf: &[u8]) -> Result<Response, KeError> {
        let mut resp = Response::default();
        let mut next = None;
        for raw in parse_records(buf)? {
            let rec = Record::from_raw(&raw)?;
            match rec {
                Record::EndOfMessage
                | Record::NextProtocol(_)
                | Record::Error(_)
                | Record::Warning(_)
                    if !raw.critical =>
                {
                    return Err(KeError::MustBeCritical(raw.rtype))
                }
                Record::NewCookie(_) if raw.critical => {
                    return Err(KeError::MustNotBeCritical(raw.rtype))
                }
                Record::NextProtocol(v) => {
                    if v.len() > 1 {
                        return Err(KeError::BadBody {
                            rtype: raw.rtype,
                            length: raw.body.len(),
                            what: "a response names at most one protocol",
                        });
                    }
                    set_once(&mut next, v, raw.rtype)?
                }
                Record::Aead(v) => {
                    if resp.no_aead_in_common {
                        return Err(KeError::Duplicate(raw.rtype));
                    }
                    match v[..] {
                        [] if resp.aead.is_none() => resp.no_aead_in_common = true,
                        [] => return Err(KeError::Duplicate(raw.rtype)),
                        [id] => set_once(&mut resp.aead, id, raw.rtype)?,
                        _ => {
                            return Err(KeError::BadBody {
                                rtype: raw.rtype,
                                length: raw.body.len(),
                                what: "a response names at most one algorithm",
                            })
                        }
                    }
                }
                Record::Error(c) => set_once(&mut resp.error, c, raw.rtype)?,
                Record::Warning(c) => resp.warnings.push(c),
                Record::NewCookie(c) => resp.cookies.push(c),
                Record::Server(s) => set_once(&mut resp.server, s, raw.rtype)?,
                Record::Port(p) => set_once(&mut resp.port, p, raw.rtype)?,
                Record::EndOfMessage | Record::Unknown { .. } => {}
            }
        }
        if resp.error.is_some() {
            return Ok(resp);
        }
        resp.next_protocols = next.ok_or(KeError::NoNextProtocol)?;
        if resp.next_protocols.contains(&super::NEXT_PROTOCOL_NTPV4)
            && resp.aead.is_none()
            && !resp.no_aead_in_common
        {
            return Err(KeError::NoAead);
        }
        Ok(resp)
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T, rtype: u16) -> Result<(), KeError> {
    if slot.is_some() {
        return Err(KeError::Duplicate(rtype));
    }
    *slot = Some(v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_bytes_are_rfc_shaped() {
        let b = Request::ntpv4(&[15]).encode();
        assert_eq!(b, [0x80, 1, 0, 2, 0, 0, 0, 4, 0, 2, 0, 15, 0x80, 0, 0, 0]);
        assert_eq!(message_len(&b), Ok(Some(16)));
        assert_eq!(message_len(&b[..15]), Ok(None));
        assert_eq!(Request::decode(&b).unwrap(), Request::ntpv4(&[15]));
    }

    #[test]
    fn response_round_trip_and_error() {
        let r = Response {
            next_protocols: vec![0],
            aead: Some(15),
            no_aead_in_common: false,
            cookies: vec![vec![1; 100], vec![2; 100]],
            server: Some("198.18.0.2".into()),
            port: Some(1234),
            error: None,
            warnings: vec![],
        };
        let b = r.encode();
        assert_eq!(Response::decode(&b).unwrap(), r);
        // §4.1.5: none of the offered algorithms supported: an empty AEAD record
        let none = Response {
            next_protocols: vec![0],
            no_aead_in_common: true,
            ..Response::default()
        };
        let b = none.encode();
        assert_eq!(&b[6..10], [0, 4, 0, 0], "AEAD record with an empty body");
        assert_eq!(Response::decode(&b).unwrap(), none);
        // an empty AEAD record beside a chosen one is a duplicate
        let mut both = Vec::new();
        Record::NextProtocol(vec![0]).to_raw(true).write(&mut both);
        Record::Aead(vec![15]).to_raw(false).write(&mut both);
        Record::Aead(vec![]).to_raw(false).write(&mut both);
        Record::EndOfMessage.to_raw(true).write(&mut both);
        assert_eq!(Response::decode(&both), Err(KeError::Duplicate(4)));
        let e = Response::error(error_code::BAD_REQUEST).encode();
        assert_eq!(Response::decode(&e).unwrap().error, Some(1));
    }

    #[test]
    fn critical_unknown_is_error_noncritical_ignored() {
        let mut b = Vec::new();
        Record::NextProtocol(vec![0]).to_raw(true).write(&mut b);
        Record::Aead(vec![15]).to_raw(false).write(&mut b);
        let mut with_unknown = b.clone();
        RawRecord {
            critical: false,
            rtype: 0x1234,
            body: vec![9; 3],
        }
        .write(&mut with_unknown);
        Record::EndOfMessage.to_raw(true).write(&mut with_unknown);
        assert!(Request::decode(&with_unknown).is_ok());
        let mut crit = b.clone();
        RawRecord {
            critical: true,
            rtype: 0x1234,
            body: vec![],
        }
        .write(&mut crit);
        Record::EndOfMessage.to_raw(true).write(&mut crit);
        let e = Request::decode(&crit).unwrap_err();
        assert_eq!(e, KeError::UnrecognizedCritical(0x1234));
        assert_eq!(e.code(), 0);
    }

    #[test]
    fn malformed_messages() {
        // no end
        let mut b = Vec::new();
        Record::NextProtocol(vec![0]).to_raw(true).write(&mut b);
        assert_eq!(Request::decode(&b), Err(KeError::NoEnd));
        // trailing data after end
        let mut t = Request::ntpv4(&[15]).encode();
        t.push(0);
        assert_eq!(Request::decode(&t), Err(KeError::TrailingData(1)));
        // odd AEAD list
        let bad = [0x80, 1, 0, 2, 0, 0, 0, 4, 0, 1, 15, 0x80, 0, 0, 0];
        assert!(matches!(
            Request::decode(&bad),
            Err(KeError::BadBody { rtype: 4, .. })
        ));
        // non-critical next protocol
        let nc = [0, 1, 0, 2, 0, 0, 0, 4, 0, 2, 0, 15, 0x80, 0, 0, 0];
        assert_eq!(Request::decode(&nc), Err(KeError::MustBeCritical(1)));
        // response without AEAD
        let mut r = Vec::new();
        Record::NextProtocol(vec![0]).to_raw(true).write(&mut r);
        Record::EndOfMessage.to_raw(true).write(&mut r);
        assert_eq!(Response::decode(&r), Err(KeError::NoAead));
        // over-long message
        assert_eq!(message_len(&[0u8, 9, 0, 16, 1]), Ok(None));
        // a record that says it is longer than any message may be: refused at once
        assert_eq!(message_len(&[0u8, 9, 0xff, 0xff]), Err(KeError::TooLong));
        let mut big = Vec::new();
        for _ in 0..300 {
            Record::NewCookie(vec![0; 100])
                .to_raw(false)
                .write(&mut big);
        }
        assert_eq!(message_len(&big), Err(KeError::TooLong));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = message_len(&b);
            let _ = Request::decode(&b);
            let _ = Response::decode(&b);
        }

        #[test]
        fn response_round_trips(
            aead in prop_oneof![Just(15u16), Just(17u16)],
            cookies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 0..9),
            port in proptest::option::of(any::<u16>()),
            server in proptest::option::of("[a-z0-9.:-]{1,40}"),
        ) {
            let r = Response { next_protocols: vec![0], aead: Some(aead), no_aead_in_common: false, cookies, server, port, error: None, warnings: vec![] };
            let b = r.encode();
            prop_assert_eq!(message_len(&b), Ok(Some(b.len())));
            prop_assert_eq!(Response::decode(&b).unwrap(), r);
        }

        #[test]
        fn request_round_trips(aead in proptest::collection::vec(any::<u16>(), 1..5),
                               port in proptest::option::of(any::<u16>())) {
            let mut r = Request::ntpv4(&aead);
            r.port = port;
            prop_assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
    }
}

//! The `name=value` text of READVAR/WRITEVAR/READ_MRU: decoding it as ntpq does
//! ([`decode_vars`]), building it as ntpd does ([`TextBuilder`]), and request lists.

use super::MAX_LINE_LEN;
use std::fmt;

/// A variable's value as the daemon wrote it (quotes kept, as ntpq keeps them), decoded
/// lossily: NTPsec has been seen to send non-UTF-8 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Value(pub String);

impl Value {
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The value with surrounding double quotes removed.
    pub fn text(&self) -> &str {
        let s = self.0.as_str();
        s.strip_prefix('"')
            .map(|r| r.strip_suffix('"').unwrap_or(r))
            .unwrap_or(s)
    }

    pub fn is_quoted(&self) -> bool {
        self.0.starts_with('"')
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.text()
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
    }

    /// Decimal, or hex with `0x`.
    pub fn as_i64(&self) -> Option<i64> {
        let s = self.text().trim();
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(h) => i64::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        }
    }

    pub fn as_timestamp(&self) -> Option<crate::time::NtpTimestamp> {
        crate::time::NtpTimestamp::parse_hex(self.text())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A decoded variable list, in the daemon's order.
pub type VarList = Vec<(String, Value)>;

/// Look a variable up by name in a decoded list.
pub fn lookup<'a>(vars: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// Parse READVAR/READ_MRU text the way ntpq's `nextvar` does: items separated by commas
/// (and CR/LF), `name` or `name=value`, a quoted value running to its closing quote
/// (commas inside kept), trailing blanks trimmed. Trailing NULs (padding) are dropped.
pub fn decode_vars(data: &[u8]) -> VarList {
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let data = &data[..end];
    let mut out = Vec::new();
    let mut i = 0;
    let is_sep = |b: u8| b == b',' || b.is_ascii_whitespace();
    while i < data.len() {
        while i < data.len() && is_sep(data[i]) {
            i += 1;
        }
        if i >= data.len() {
            break;
        }
        let start = i;
        while i < data.len() && data[i] != b'=' && data[i] != b',' && data[i] != b'\r' {
            i += 1;
        }
        let name = String::from_utf8_lossy(&data[start..i]).trim().to_string();
        let mut value = Vec::new();
        if i < data.len() && data[i] == b'=' {
            i += 1;
            while i < data.len() && data[i] == b' ' {
                i += 1;
            }
            let vstart = i;
            if i < data.len() && data[i] == b'"' {
                i += 1;
                while i < data.len() && data[i] != b'"' {
                    i += 1;
                }
                if i < data.len() {
                    i += 1;
                }
            } else {
                while i < data.len() && data[i] != b',' && data[i] != b'\r' {
                    i += 1;
                }
            }
            value.extend_from_slice(&data[vstart..i]);
            while value.last().is_some_and(|b| b.is_ascii_whitespace()) {
                value.pop();
            }
        }
        if !name.is_empty() {
            out.push((name, Value(String::from_utf8_lossy(&value).into_owned())));
        }
    }
    out
}

/// Builds the text of a response the way ntpd's `ctl_putdata` does: items separated by
/// `", "`, or `",\r\n"` when the line would reach 72 columns; `finish` appends the final
/// `"\r\n"`.
#[derive(Default, Debug, Clone)]
pub struct TextBuilder {
    out: Vec<u8>,
    line_len: usize,
}

impl TextBuilder {
    pub fn new() -> TextBuilder {
        TextBuilder::default()
    }

    /// Append one preformatted item (`name=value` or bare `name`).
    pub fn item(&mut self, item: &[u8]) -> &mut Self {
        if !self.out.is_empty() {
            self.out.push(b',');
            self.line_len += 1;
            if item.len() + self.line_len + 1 >= MAX_LINE_LEN {
                self.out.extend_from_slice(b"\r\n");
                self.line_len = 0;
            } else {
                self.out.push(b' ');
                self.line_len += 1;
            }
        }
        self.out.extend_from_slice(item);
        self.line_len += item.len();
        self
    }

    /// `name=value` with the value as is (numbers, addresses, hex).
    pub fn raw(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.item(format!("{name}={value}").as_bytes())
    }

    /// `name="value"`.
    pub fn quoted(&mut self, name: &str, value: &str) -> &mut Self {
        self.item(format!("{name}=\"{value}\"").as_bytes())
    }

    /// Milliseconds with ntp.org's three decimals.
    pub fn ms3(&mut self, name: &str, ms: f64) -> &mut Self {
        self.raw(name, format_args!("{ms:.3}"))
    }

    /// Milliseconds with six decimals (offset, sys_jitter).
    pub fn ms6(&mut self, name: &str, ms: f64) -> &mut Self {
        self.raw(name, format_args!("{ms:.6}"))
    }

    /// `0x%08x.%08x`.
    pub fn timestamp(&mut self, name: &str, t: crate::time::NtpTimestamp) -> &mut Self {
        self.raw(name, t.to_hex_string())
    }

    /// `0x%x`.
    pub fn hex(&mut self, name: &str, v: u64) -> &mut Self {
        self.raw(name, format_args!("{v:#x}"))
    }

    /// Eight `" %.2f"` values (filtdelay and friends).
    pub fn array2(&mut self, name: &str, values: &[f64]) -> &mut Self {
        let mut s = format!("{name}=");
        for v in values {
            s.push_str(&format!(" {v:.2}"));
        }
        self.item(s.as_bytes())
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// The finished text with its final CRLF (none when empty, as ntpd sends nothing).
    pub fn finish(mut self) -> Vec<u8> {
        if !self.out.is_empty() {
            self.out.extend_from_slice(b"\r\n");
        }
        self.out
    }
}

/// The request text for READVAR with names (`name1,name2`, as ntpq's `makequerydata`) or
/// WRITEVAR/READ_MRU assignments.
pub fn encode_request_vars<S: AsRef<str>>(items: &[S]) -> Vec<u8> {
    items
        .iter()
        .map(|s| s.as_ref())
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}

/// Names requested in a READVAR/WRITEVAR payload: `(name, Some(value))` for assignments.
pub fn decode_request_vars(data: &[u8]) -> Vec<(String, Option<String>)> {
    let had_eq = |d: &[u8], name: &str| {
        // `decode_vars` loses the difference between `name` and `name=`.
        let needle = format!("{name}=");
        d.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    decode_vars(data)
        .into_iter()
        .map(|(n, v)| {
            if v.0.is_empty() && !had_eq(data, &n) {
                (n, None)
            } else {
                let text = v.text().to_string();
                (n, Some(text))
            }
        })
        .collect()
}

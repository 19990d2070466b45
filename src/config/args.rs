//! A cursor over one command's tokens that turns bad values into `file:line:column`
//! diagnostics. Shared by the ntp.conf directives.

use super::diagnostic::{Diagnostic, Location};
use super::lexer::Token;
use std::net::IpAddr;
use std::path::Path;

pub(crate) type LineResult<T> = Result<T, Diagnostic>;

pub(crate) struct Args<'a> {
    pub file: &'a Path,
    pub line: usize,
    tokens: &'a [Token],
    pos: usize,
}

impl<'a> Args<'a> {
    pub fn new(file: &'a Path, line: usize, tokens: &'a [Token]) -> Args<'a> {
        Args {
            file,
            line,
            tokens,
            pos: 0,
        }
    }

    pub fn location(&self, column: Option<usize>) -> Location {
        Location::new(self.file, self.line, column)
    }

    /// An error pointing at `tok`.
    pub fn error_at(&self, tok: &Token, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.location(Some(tok.column)), msg)
    }

    /// The column just after the last token: where a missing argument should have been.
    fn end_column(&self) -> usize {
        self.tokens
            .last()
            .map(|t| t.column + t.text.chars().count() + if t.quoted { 2 } else { 0 } + 1)
            .unwrap_or(1)
    }

    pub fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    pub fn next(&mut self) -> Option<&'a Token> {
        let t = self.tokens.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// The next token as a bare keyword (quoted strings never are keywords).
    pub fn next_keyword(&mut self) -> Option<&'a Token> {
        self.next()
    }

    pub fn rest(&mut self) -> &'a [Token] {
        let r = &self.tokens[self.pos.min(self.tokens.len())..];
        self.pos = self.tokens.len();
        r
    }

    pub fn is_done(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// The next token, or a "missing WHAT" error at the end of the line.
    pub fn expect(&mut self, what: &str) -> LineResult<&'a Token> {
        match self.next() {
            Some(t) => Ok(t),
            None => Err(Diagnostic::error(
                self.location(Some(self.end_column())),
                format!("missing {what}"),
            )),
        }
    }

    /// An unsigned integer (decimal, or hex with `0x` as ntpd's scanner allows) in `lo..=hi`.
    pub fn uint(&mut self, what: &str, lo: u64, hi: u64) -> LineResult<u64> {
        let t = self.expect(what)?;
        let v = parse_uint(&t.text)
            .ok_or_else(|| self.error_at(t, format!("{what}: '{}' is not a number", t.text)))?;
        if v < lo || v > hi {
            return Err(self.error_at(t, format!("{what} {v} out of range {lo}..{hi}")));
        }
        Ok(v)
    }

    /// A signed integer in `lo..=hi`.
    pub fn int(&mut self, what: &str, lo: i64, hi: i64) -> LineResult<i64> {
        let t = self.expect(what)?;
        let v = parse_int(&t.text)
            .ok_or_else(|| self.error_at(t, format!("{what}: '{}' is not a number", t.text)))?;
        if v < lo || v > hi {
            return Err(self.error_at(t, format!("{what} {v} out of range {lo}..{hi}")));
        }
        Ok(v)
    }

    /// A finite decimal number (`1`, `-0.5`, `1e-3`).
    pub fn float(&mut self, what: &str) -> LineResult<f64> {
        let t = self.expect(what)?;
        parse_float(&t.text)
            .ok_or_else(|| self.error_at(t, format!("{what}: '{}' is not a number", t.text)))
    }

    /// `0` or `1`.
    pub fn bool01(&mut self, what: &str) -> LineResult<bool> {
        Ok(self.uint(what, 0, 1)? == 1)
    }

    /// A file name argument.
    pub fn path(&mut self, what: &str) -> LineResult<&'a Token> {
        self.expect(what)
    }
}

/// Decimal or `0x` hex, no sign.
pub(crate) fn parse_uint(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u64::from_str_radix(h, 16).ok();
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(crate) fn parse_int(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) => parse_uint(rest)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        None => parse_uint(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// ntpd's `is_double` shapes only: digits, one `.`, optional exponent. No `inf`/`nan`.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        || !s.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// An IP literal, or None. IPv6 may carry a `%scope` suffix, which ntpd ignores here.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.split('%').next().unwrap_or(s);
    s.parse().ok()
}

/// Whether `s` could be a DNS name (letters, digits, `-`, `_`, `.`, not all digits/dots).
pub(crate) fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !s.starts_with('-')
        && !s.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_like_ntpds_scanner() {
        assert_eq!(parse_uint("42"), Some(42));
        assert_eq!(parse_uint("0x1F"), Some(31));
        assert_eq!(parse_uint("-1"), None);
        assert_eq!(parse_uint("4x"), None);
        assert_eq!(parse_int("-20"), Some(-20));
        assert_eq!(parse_float("1e-3"), Some(0.001));
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("."), None);
        assert_eq!(parse_float("1.5.2"), None);
    }

    #[test]
    fn hostnames() {
        assert!(is_hostname("0.pool.ntp.org"));
        assert!(is_hostname("time4.cloud.tencent.com"));
        assert!(!is_hostname("192.168.6.999"));
        assert!(!is_hostname("//当前"));
        assert!(!is_hostname("a,b"));
    }
}

//! A deliberately small HTTP/1.1 responder for `/metrics` on tokio: one GET per connection
//! (`Connection: close`), the request head bounded in size and in time, connections
//! bounded in number (beyond it new ones are closed at once), clients checked against an
//! allow rule before a byte is read. Nothing here can hold more than
//! `MAX_CONNECTIONS × MAX_HEAD` bytes of request data, whatever a client sends.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::text::Format;

/// Largest request head (request line and headers) read; beyond it: 431.
pub const MAX_HEAD: usize = 8192;
/// Connections served at once; more are closed without a reply.
pub const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send its whole request head, and to take the response.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What a handler gets of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    /// The query string after `?`, if any.
    pub query: Option<String>,
    pub format: Format,
}

/// A response: status, content type, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Parse a request head (everything before the blank line). Errors are the status to send.
pub fn parse_head(head: &[u8]) -> Result<(String, Request), u16> {
    let text = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or(400u16)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(400);
    }
    let mut accept = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(400);
        };
        if name.eq_ignore_ascii_case("accept") {
            accept = Some(value.trim());
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    Ok((
        method.to_string(),
        Request {
            path,
            query,
            format: Format::from_accept(accept),
        },
    ))
}

/// Read up to the end of the request head. Err is the status to answer with (0: just close).
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| 0u16)?;
        if n == 0 {
            return Err(0);
        }
        let scan_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf[scan_from..].windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(scan_from + end);
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
    }
}

async fn write_response(stream: &mut TcpStream, r: &Response, head_only: bool) {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(r.body.as_bytes());
    }
    let _ = tokio::time::timeout(IO_TIMEOUT, async {
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Serve one connection: read the head (bounded), answer once, close. A client not
/// `allowed` gets its 403 after its head is read: closing with unread data would reset the
/// connection, and the client would never see why.
async fn connection<H, F>(mut stream: TcpStream, handler: Arc<H>, allowed: bool)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send,
{
    let head = match tokio::time::timeout(IO_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Err(408),
        Ok(r) => r,
    };
    let head = match head {
        Ok(h) => h,
        Err(0) => return,
        Err(status) => {
            return write_response(&mut stream, &Response::text(status, "\n"), false).await
        }
    };
    let (method, request) = match parse_head(&head) {
        Ok(r) => r,
        Err(status) => {
            return write_response(&mut stream, &Response::text(status, "bad request\n"), false)
                .await
        }
    };
    let head_only = method == "HEAD";
    let response = if !allowed {
        Response::text(403, "forbidden\n")
    } else if method != "GET" && !head_only {
        Response::text(405, "only GET\n")
    } else if request.path != "/metrics" {
        Response::text(404, "see /metrics\n")
    } else {
        handler(request).await
    };
    write_response(&mut stream, &response, head_only).await;
}

/// Accept connections for ever. `permits` decides by the client's address; a refused
/// client gets a 403 and nothing else.
pub async fn serve<P, H, F>(listener: TcpListener, permits: P, handler: H)
where
    P: Fn(IpAddr) -> bool + Send + Sync + 'static,
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send,
{
    let handler = Arc::new(handler);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer): (TcpStream, SocketAddr) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // EMFILE and the like: back off instead of spinning
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream); // full: close at once, hold nothing for this client
            continue;
        };
        let handler = handler.clone();
        let allowed = permits(peer.ip());
        tokio::spawn(async move {
            connection(stream, handler, allowed).await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_parse_or_fail_with_the_right_status() {
        let (m, r) = parse_head(
            b"GET /metrics?target=a HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .unwrap();
        assert_eq!(m, "GET");
        assert_eq!(r.path, "/metrics");
        assert_eq!(r.query.as_deref(), Some("target=a"));
        assert_eq!(r.format, Format::OpenMetrics);
        let (_, r) = parse_head(b"GET /metrics HTTP/1.0").unwrap();
        assert_eq!(r.format, Format::Prometheus);
        for bad in [
            &b"GET /metrics"[..],
            b"GET metrics HTTP/1.1",
            b"GET /metrics SPDY/3",
            b"GET /metrics HTTP/1.1\r\nno colon here",
            b"\xff\xfe / HTTP/1.1",
            b"GET  /metrics HTTP/1.1",
        ] {
            assert_eq!(
                parse_head(bad),
                Err(400),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

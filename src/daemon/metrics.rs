//! ntpd's `/metrics` (the `metrics` directive): an HTTP task on the daemon's runtime, never
//! on the serving threads. For each scrape it asks the main loop for a snapshot of the
//! daemon (the same view mode 6 answers from, without the MRU rows) over a bounded channel,
//! then reads it through the mode 6 readout as `ntpkit exporter` would, adds what only we
//! know (steps, the estimators' uncertainty, our memory) and writes the text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::view::DaemonView;
use crate::config::MetricsListen;
use crate::control::server::{read_vars_local, ControlState};
use crate::metrics::http::{self, Request, Response};
use crate::metrics::{collect, Mode6, ReadError, Writer};
use crate::wire::control::VarList;

/// What the main loop hands over for one scrape.
#[derive(Clone, Debug)]
pub struct MetricsView {
    pub view: DaemonView,
    pub steps: u64,
    /// Association id → the estimator's offset uncertainty, s.
    pub uncertainty: HashMap<u16, f64>,
}

/// A scrape's question to the main loop.
pub type Ask = oneshot::Sender<MetricsView>;

/// Scrapes waiting for the main loop at once; more are answered 503.
const ASK_QUEUE: usize = 4;
/// A snapshot this fresh is reused: a flood of scrapes costs the main loop at most this
/// many snapshots a second.
const REUSE: Duration = Duration::from_millis(200);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

struct Local<'a>(&'a DaemonView);

impl Mode6 for Local<'_> {
    fn associations(&mut self) -> Result<(u16, Vec<(u16, u16)>), ReadError> {
        let mut list: Vec<(u16, u16)> = self
            .0
            .associations()
            .into_iter()
            .map(|(id, st)| (id, st.encode()))
            .collect();
        list.sort_by_key(|a| a.0);
        Ok((self.0.status.encode(), list))
    }
    fn read_vars(&mut self, assoc: u16, names: &[&str]) -> Result<VarList, ReadError> {
        read_vars_local(self.0, assoc, names).map_err(ReadError::Local)
    }
}

/// The exposition text of one snapshot.
pub fn render(m: &MetricsView, format: crate::metrics::Format) -> String {
    let mut snap = match collect(&mut Local(&m.view)) {
        Ok(s) => s,
        Err(e) => return format!("# {e}\n"),
    };
    snap.steps = Some(m.steps);
    snap.rss_bytes = crate::metrics::model::own_rss_bytes();
    for s in &mut snap.sources {
        s.uncertainty = m.uncertainty.get(&s.assoc).copied();
    }
    let mut w = Writer::default();
    w.snapshot(&snap, &[]);
    w.finish(format)
}

/// Bind the endpoint's socket (at start, before privileges are dropped, so that a busy
/// port fails the start with a clear message).
pub fn bind(listen: &MetricsListen) -> std::io::Result<std::net::TcpListener> {
    let sock = std::net::TcpListener::bind(listen.addr)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Serve `/metrics` on the current runtime; `ask` reaches the main loop.
pub fn spawn(
    sock: std::net::TcpListener,
    listen: MetricsListen,
    ask: mpsc::Sender<Ask>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::from_std(sock)?;
    let cache: Arc<Mutex<Option<(Instant, MetricsView)>>> = Arc::default();
    let handler = move |req: Request| {
        let ask = ask.clone();
        let cache = cache.clone();
        async move {
            let fresh = cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .filter(|(t, _)| t.elapsed() < REUSE)
                .map(|(_, v)| v.clone());
            let view = match fresh {
                Some(v) => v,
                None => {
                    let (tx, rx) = oneshot::channel();
                    if ask.try_send(tx).is_err() {
                        return Response::text(503, "busy\n");
                    }
                    match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
                        Ok(Ok(v)) => {
                            *cache.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some((Instant::now(), v.clone()));
                            v
                        }
                        _ => return Response::text(503, "the daemon did not answer\n"),
                    }
                }
            };
            Response {
                status: 200,
                content_type: req.format.content_type().into(),
                body: render(&view, req.format),
            }
        }
    };
    Ok(tokio::spawn(http::serve(
        listener,
        move |ip| listen.permits(ip),
        handler,
    )))
}

/// The channel the main loop answers scrapes on.
pub fn channel() -> (mpsc::Sender<Ask>, mpsc::Receiver<Ask>) {
    mpsc::channel(ASK_QUEUE)
}

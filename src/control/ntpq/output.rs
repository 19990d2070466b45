//! What every command shares for output: errors on stderr as ntpq prints them, and
//! `--json`'s one object per line.

use super::Session;
use crate::control::client::Error;
use crate::wire::control::Value;
use serde_json::{json, Value as Json};

impl Session<'_> {
    pub(super) fn report(&mut self, e: Error) {
        let _ = writeln!(self.err, "{e}");
    }

    pub(super) fn json_out(&mut self, kind: &str, body: Json) {
        let server = self
            .conn
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let v = json!({ "server": server, "command": kind, "result": body });
        let _ = writeln!(self.out, "{v}");
    }
}

/// A variable as JSON: numbers as numbers, everything else as its text.
pub(super) fn json_value(v: &Value) -> Json {
    if !v.is_quoted() {
        let t = v.text().trim();
        if let Ok(i) = t.parse::<i64>() {
            return json!(i);
        }
        if let Ok(f) = t.parse::<f64>() {
            if f.is_finite() {
                return json!(f);
            }
        }
    }
    Json::String(v.text().to_string())
}

//! The control API under `/_gauntlet/`: read and replace the fault rules, read the
//! oracle and the tape (JSON pages, or all of it as JSON Lines), advance the clock,
//! rotate a key, reset. Every call needs the control token in `x-gauntlet-token`.

use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::api::Reply;
use crate::error::{ApiError, parse_json};
use crate::faults::RuleSpec;
use crate::faults::spec::validate_all;
use crate::twin::Twin;

/// The header that carries the control token.
pub const TOKEN_HEADER: &str = "x-gauntlet-token";
/// The longest jump one `clock/advance` makes: a month covers every platform
/// period (checkpoints, challenge windows, token lifetimes) with room to spare.
pub const MAX_ADVANCE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Tape entries returned by one call, at most.
pub const TAPE_PAGE: usize = 10_000;
/// The media type of the tape as JSON Lines (`?format=jsonl`, or asked for in `Accept`).
pub const NDJSON: &str = "application/x-ndjson";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(with = "humantime_serde")]
    by: Duration,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotate {
    #[serde(default)]
    key: Option<String>,
}

/// Answer a control request.
pub fn handle(twin: &Twin, parts: &Parts, body: Result<Bytes, ApiError>) -> Reply {
    let request_id = crate::auth::random_secret("ctl_")[..20].to_string();
    let fail = |e: ApiError| {
        let mut r = Reply::json(e.status, &e.body(&request_id, false))
            .header("x-request-id", request_id.clone());
        for (n, v) in e.headers {
            r = r.header(n, v);
        }
        r
    };
    let token = parts
        .headers
        .get(TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = twin.config.control_token.expose().as_bytes();
    // An empty token refuses every call rather than matching a missing header.
    if expected.is_empty() || !bool::from(token.ct_eq(expected)) {
        return fail(ApiError::unauthorized(format!(
            "the control API needs the control token in {TOKEN_HEADER}"
        )));
    }
    match body.and_then(|b| route(twin, parts, &b)) {
        Ok(r) => r.header("x-request-id", request_id.clone()),
        Err(e) => fail(e),
    }
}

fn route(twin: &Twin, parts: &Parts, body: &[u8]) -> Result<Reply, ApiError> {
    let path = parts
        .uri
        .path()
        .trim_start_matches("/_gauntlet")
        .trim_matches('/');
    let query = parts.uri.query().unwrap_or("");
    let ok = |v: serde_json::Value| Ok(Reply::json(StatusCode::OK, &v));
    let allowed: &[Method] = match path {
        "rules" => &[Method::GET, Method::PUT],
        "oracle" | "tape" => &[Method::GET],
        "clock/advance" | "reset" | "keys/rotate" => &[Method::POST],
        _ => {
            return Err(ApiError::not_found(format!(
                "control route /_gauntlet/{path}"
            )));
        }
    };
    if !allowed.contains(&parts.method) {
        return Err(ApiError::method_not_allowed(
            &parts.method,
            parts.uri.path(),
            allowed,
        ));
    }
    match (path, &parts.method) {
        ("rules", &Method::GET) => {
            let set = twin.faults.rules();
            let specs: Vec<&RuleSpec> = set.rules.iter().map(|r| &r.spec).collect();
            ok(json!({ "epoch_ms": set.epoch.as_millis() as u64, "rules": specs }))
        }
        ("rules", _) => {
            let r: Rules = parse_json(body)?;
            let rules =
                validate_all(&r.rules, "rules").map_err(|e| ApiError::field(e.key, e.reason))?;
            let n = rules.len();
            let epoch = twin.clock.now();
            twin.faults.install(rules, epoch);
            ok(
                json!({ "installed": n, "epoch_ms": epoch.as_millis() as u64, "time_scale": twin.clock.scale() }),
            )
        }
        ("oracle", _) => {
            let now = twin.clock.now();
            // `?from_ms=A&to_ms=B`: applied actions per second over that twin-time window.
            let (from, to) = (param(query, "from_ms")?, param(query, "to_ms")?);
            let applied_rate = match (from, to) {
                (Some(a), Some(b)) => twin
                    .oracle
                    .applied_rate(Duration::from_millis(a), Duration::from_millis(b)),
                _ => None,
            };
            ok(json!({
                "now_ms": now.as_millis() as u64,
                "oracle": twin.oracle_view(),
                "applied_rate": applied_rate,
                "faults": twin.faults.tape.view(u64::MAX, 0).by_kind,
            }))
        }
        ("tape", _) if wants_jsonl(parts, query)? => {
            if param(query, "limit")?.is_some() {
                return Err(ApiError::field(
                    "limit",
                    "does not apply to format=jsonl, which returns every kept entry",
                ));
            }
            let since = param(query, "since")?.unwrap_or(0);
            Ok(Reply::text(
                StatusCode::OK,
                NDJSON,
                twin.faults.tape.jsonl(since),
            ))
        }
        ("tape", _) => {
            let (since, limit) = (
                param(query, "since")?.unwrap_or(0),
                param(query, "limit")?
                    .unwrap_or(TAPE_PAGE as u64)
                    .min(TAPE_PAGE as u64),
            );
            ok(
                serde_json::to_value(twin.faults.tape.view(since, limit as usize))
                    .unwrap_or_default(),
            )
        }
        ("clock/advance", _) => {
            let a: Advance = parse_json(body)?;
            if a.by > MAX_ADVANCE {
                return Err(ApiError::field(
                    "by",
                    format!(
                        "at most {} per call",
                        humantime::format_duration(MAX_ADVANCE)
                    ),
                ));
            }
            let now = twin.clock.advance(a.by);
            ok(json!({ "now_ms": now.as_millis() as u64 }))
        }
        ("keys/rotate", _) => {
            let r: Rotate = if body.is_empty() {
                Rotate::default()
            } else {
                parse_json(body)?
            };
            let key = twin.auth.rotate(r.key.as_deref(), twin.clock.now())?;
            ok(json!({ "api_key": key, "grace_s": twin.config.auth.rotation_grace.as_secs() }))
        }
        _ => {
            twin.reset();
            ok(json!({ "reset": true }))
        }
    }
}

/// Does a tape request ask for JSON Lines? `format=jsonl|json` decides; without it,
/// an `Accept` that lists `application/x-ndjson` (with a non-zero `q`) does.
fn wants_jsonl(parts: &Parts, query: &str) -> Result<bool, ApiError> {
    match text_param(query, "format") {
        Some("jsonl" | "ndjson") => return Ok(true),
        Some("json") => return Ok(false),
        Some(_) => return Err(ApiError::field("format", "expected `json` or `jsonl`")),
        None => {}
    }
    let mut accept = parts
        .headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    Ok(accept.any(|range| {
        let mut fields = range.split(';').map(str::trim);
        let media = fields.next().unwrap_or_default();
        let refused = fields.any(|f| {
            f.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q == 0.0)
        });
        media.eq_ignore_ascii_case(NDJSON) && !refused
    }))
}

/// A query parameter's raw text, if given.
fn text_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A numeric query parameter, if given; a 400 naming it if it is not a number.
fn param(query: &str, name: &str) -> Result<Option<u64>, ApiError> {
    text_param(query, name)
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::field(name, "must be a non-negative integer"))
        })
        .transpose()
}

//! The control API under `/_gauntlet/`: read and replace the fault rules, read the
//! oracle and the tape (JSON pages, or all of it as JSON Lines), advance the clock,
//! reset; and each platform's own control routes (Dual's `keys/rotate`). Every call
//! needs the control token in `x-gauntlet-token`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Engine;
use super::error::{ApiError, parse_json};
use super::faults::RuleSpec;
use super::faults::spec::validate_all;
use super::platform::Platform;
use super::reply::Reply;

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
    /// Who installs them (a run's id): answered by `GET rules`.
    #[serde(default)]
    label: Option<String>,
}

/// The longest label a rule set may carry.
const MAX_LABEL: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(with = "humantime_serde")]
    by: Duration,
}

/// Answer a control request; `platforms` are asked for the routes that are not
/// the engine's, and are reset with it.
pub fn handle(
    engine: &Engine,
    platforms: &[Arc<dyn Platform>],
    parts: &Parts,
    body: Result<Bytes, ApiError>,
) -> Reply {
    let request_id = super::secret::random_secret("ctl_")[..20].to_string();
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
    let expected = engine.config.control_token.expose().as_bytes();
    // An empty token refuses every call rather than matching a missing header.
    if expected.is_empty() || !bool::from(token.ct_eq(expected)) {
        return fail(ApiError::unauthorized(format!(
            "the control API needs the control token in {TOKEN_HEADER}"
        )));
    }
    match body.and_then(|b| route(engine, platforms, parts, &b)) {
        Ok(r) => r.header("x-request-id", request_id.clone()),
        Err(e) => fail(e),
    }
}

fn route(
    engine: &Engine,
    platforms: &[Arc<dyn Platform>],
    parts: &Parts,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let path = parts
        .uri
        .path()
        .trim_start_matches("/_gauntlet")
        .trim_matches('/');
    let query = parts.uri.query().unwrap_or("");
    let ok = |v: serde_json::Value| Ok(Reply::json(StatusCode::OK, &v));
    // A path that is not the engine's belongs to the first platform that claims it.
    let platform = platforms
        .iter()
        .find_map(|p| Some((p, p.control_methods(path)?)));
    let allowed: &[Method] = match (path, &platform) {
        ("rules", _) => &[Method::GET, Method::PUT],
        ("oracle" | "tape" | "traces" | "status", _) => &[Method::GET],
        ("clock/advance" | "reset", _) => &[Method::POST],
        (_, Some((_, methods))) => methods,
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
            let set = engine.faults.rules();
            let specs: Vec<&RuleSpec> = set.rules.iter().map(|r| &r.spec).collect();
            ok(json!({
                "epoch_ms": set.epoch.as_millis() as u64,
                "now_ms": engine.clock.now().as_millis() as u64,
                "label": set.label,
                "rules": specs,
            }))
        }
        ("rules", _) => {
            let r: Rules = parse_json(body)?;
            let rules =
                validate_all(&r.rules, "rules").map_err(|e| ApiError::field(e.key, e.reason))?;
            if r.label.as_ref().is_some_and(|l| l.len() > MAX_LABEL) {
                return Err(ApiError::field(
                    "label",
                    format!("at most {MAX_LABEL} characters"),
                ));
            }
            let n = rules.len();
            let epoch = engine.clock.now();
            engine.faults.install_labeled(rules, epoch, r.label);
            ok(
                json!({ "installed": n, "epoch_ms": epoch.as_millis() as u64, "time_scale": engine.clock.scale() }),
            )
        }
        ("oracle", _) => oracle(engine, platforms, query),
        ("status", _) => ok(serde_json::to_value(engine.status()).unwrap_or_default()),
        ("traces", _) => {
            let id = text_param(query, "trace_id").ok_or_else(|| {
                ApiError::field("trace_id", "give the trace id (32 hex digits) to follow")
            })?;
            ok(json!({ "trace_id": id, "requests": engine.traces.of(id) }))
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
                engine.faults.tape.jsonl(since),
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
                serde_json::to_value(engine.faults.tape.view(since, limit as usize))
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
            let now = engine.clock.advance(a.by);
            ok(json!({ "now_ms": now.as_millis() as u64 }))
        }
        ("reset", _) => {
            reset(engine, platforms);
            ok(json!({ "reset": true }))
        }
        _ => match platform {
            Some((p, _)) => p.control(path, body),
            None => Err(ApiError::not_found(format!(
                "control route /_gauntlet/{path}"
            ))),
        },
    }
}

/// Forget all state, the platforms' and the engine's (`POST /_gauntlet/reset`).
pub fn reset(engine: &Engine, platforms: &[Arc<dyn Platform>]) {
    for p in platforms {
        p.reset();
    }
    engine.reset();
}

/// `GET oracle`: the engine's account, the applied rate over `?from_ms=A&to_ms=B`
/// of twin time, faults by kind, and each platform's section under its name.
fn oracle(
    engine: &Engine,
    platforms: &[Arc<dyn Platform>],
    query: &str,
) -> Result<Reply, ApiError> {
    let now = engine.clock.now();
    let (from, to) = (param(query, "from_ms")?, param(query, "to_ms")?);
    let applied_rate = match (from, to) {
        (Some(a), Some(b)) => engine
            .oracle
            .applied_rate(Duration::from_millis(a), Duration::from_millis(b)),
        _ => None,
    };
    let mut v = json!({
        "now_ms": now.as_millis() as u64,
        "oracle": engine.oracle_view(),
        "applied_rate": applied_rate,
        "faults": engine.faults.tape.view(u64::MAX, 0).by_kind,
    });
    for p in platforms {
        if let Some(section) = p.oracle() {
            v[p.name()] = section;
        }
    }
    Ok(Reply::json(StatusCode::OK, &v))
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

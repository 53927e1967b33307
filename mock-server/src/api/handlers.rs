//! The endpoints: auth, event bus, templates, objects, webhooks, sequencer, health.

use bytes::Bytes;
use http::{Method, StatusCode};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Ctx, Reply, Route};
use crate::clock::rfc3339;
use crate::ebus::{ActionIn, ActionResult, BatchIn, Replay};
use crate::error::{ApiError, parse_json};
use crate::faults::Decision;
use crate::twin::Twin;

/// Longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// Default and largest page of a listing.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 500;

/// The actions of an event-bus submission, parsed once.
#[derive(Debug)]
pub struct Submission {
    pub actions: Vec<ActionIn>,
    pub fingerprints: Vec<[u8; 16]>,
    /// `POST /ebus/actions`: one action, answered as one.
    pub single: bool,
}

impl Submission {
    pub fn parse(route: &Route, body: &[u8], max_batch: usize) -> Result<Submission, ApiError> {
        let (actions, single) = if *route == Route::Batch {
            let b: BatchIn = parse_json(body)?;
            if b.actions.len() > max_batch {
                return Err(ApiError::field(
                    "actions",
                    format!("at most {max_batch} actions per batch"),
                ));
            }
            if b.actions.is_empty() {
                return Err(ApiError::field("actions", "at least one action"));
            }
            (b.actions, false)
        } else {
            (vec![parse_json::<ActionIn>(body)?], true)
        };
        let fingerprints = actions.iter().map(ActionIn::fingerprint).collect();
        Ok(Submission {
            actions,
            fingerprints,
            single,
        })
    }
}

/// Route a request to its handler: caller, scope and rate limit first.
pub fn dispatch(
    twin: &Twin,
    cx: &mut Ctx,
    route: &Route,
    body: Bytes,
    submission: Option<Result<Submission, ApiError>>,
    d: &Decision,
    rng: &mut ChaCha8Rng,
) -> Result<Reply, ApiError> {
    match route {
        Route::Health => return Ok(health(twin, cx, d.degraded)),
        Route::Login => return login(twin, cx, &body),
        Route::Refresh => return refresh(twin, cx, &body),
        _ => {}
    }
    let p = cx.principal.clone()?;
    p.require(route.scope(&cx.method))?;
    let submission = submission.transpose()?;
    if let Some(group) = route.group(&cx.method) {
        let cost = submission.as_ref().map_or(1, |s| s.actions.len() as u32);
        match twin.limiter.charge(&p.org, group, cost, cx.now, cx.unix) {
            Ok(q) => cx.quota = Some(q),
            Err(q) => {
                cx.quota = Some(q);
                let wait = q.retry_after.unwrap_or(1);
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("rate limit exceeded; retry after {wait} s"),
                )
                .header("retry-after", wait.to_string()));
            }
        }
    }
    let org = p.org.as_str();
    let clock = &twin.clock;
    let not_found = |what: &str, id: &str| ApiError::not_found(format!("{what} {id}"));
    match (route, &cx.method) {
        (Route::Submit | Route::Batch, _) => {
            let sub =
                submission.ok_or_else(|| ApiError::field("body", "a JSON body is required"))?;
            submit(twin, cx, org, &body, sub, d, rng)
        }
        (Route::Action(id), _) => twin
            .store()
            .action(org, id, clock)
            .map(|a| Reply::json(StatusCode::OK, &a))
            .ok_or_else(|| not_found("action", id)),
        (Route::Templates, &Method::POST) => create_template(twin, cx, org, &body),
        (Route::Templates, _) => Ok(Reply::json(
            StatusCode::OK,
            &json!({ "templates": twin.store().templates(org) }),
        )),
        (Route::Objects, _) => {
            let (offset, limit) = (
                query(cx, "offset", 0)?,
                query(cx, "limit", DEFAULT_PAGE)?.min(MAX_PAGE),
            );
            Ok(Reply::json(
                StatusCode::OK,
                &twin.store().objects(org, offset, limit, clock),
            ))
        }
        (Route::Object(id), _) => twin
            .store()
            .object(org, id, clock)
            .map(|o| Reply::json(StatusCode::OK, &o))
            .ok_or_else(|| not_found("object", id)),
        (Route::Webhooks, &Method::POST) => {
            let hook = twin
                .webhooks()
                .create(org, parse_json(&body)?, rfc3339(cx.unix))?;
            Ok(Reply::json(StatusCode::CREATED, &hook))
        }
        (Route::Webhooks, _) => Ok(Reply::json(
            StatusCode::OK,
            &json!({ "webhooks": twin.webhooks().list(org) }),
        )),
        (Route::Webhook(id), &Method::PATCH) => Ok(Reply::json(
            StatusCode::OK,
            &twin.webhooks().patch(org, id, parse_json(&body)?)?,
        )),
        (Route::Webhook(id), &Method::DELETE) => {
            twin.webhooks().delete(org, id)?;
            Ok(Reply::bytes(StatusCode::NO_CONTENT, Bytes::new()))
        }
        (Route::Webhook(id), _) => Ok(Reply::json(StatusCode::OK, &twin.webhooks().get(org, id)?)),
        (Route::Batches, _) => {
            let limit = query(cx, "limit", DEFAULT_PAGE)?.min(MAX_PAGE);
            Ok(Reply::json(
                StatusCode::OK,
                &json!({ "batches": twin.store().sequencer.batches(clock, limit) }),
            ))
        }
        (Route::Checkpoints, _) => Ok(Reply::json(
            StatusCode::OK,
            &json!({ "checkpoints": twin.store().sequencer.checkpoints(clock) }),
        )),
        (Route::Health | Route::Login | Route::Refresh, _) => {
            unreachable!("public routes answered above")
        }
    }
}

/// `POST /ebus/actions[/batch]`: replay, or apply in order and account.
fn submit(
    twin: &Twin,
    cx: &Ctx,
    org: &str,
    body: &[u8],
    sub: Submission,
    d: &Decision,
    rng: &mut ChaCha8Rng,
) -> Result<Reply, ApiError> {
    let key = cx.idempotency_key();
    if let Some(k) = key
        && (k.is_empty() || k.len() > MAX_KEY_LEN)
    {
        return Err(ApiError::field(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} characters"),
        ));
    }
    let request_hash: [u8; 32] = {
        let mut h = Sha256::new();
        h.update(cx.path.as_bytes());
        h.update([0]);
        h.update(body);
        h.finalize().into()
    };
    let mut store = twin.store();
    if let Some(k) = key {
        match store.replay(org, k, &request_hash, cx.now) {
            Replay::Stored { status, body } => {
                twin.oracle.replayed();
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                return Ok(Reply::bytes(status, body).header("idempotent-replayed", "true"));
            }
            Replay::Mismatch => {
                twin.oracle.key_mismatch();
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Idempotency-Key reused with a different request",
                )
                .detail("Idempotency-Key", "was used before with another body"));
            }
            Replay::Fresh => {}
        }
    }
    let partial = d.partial.as_ref();
    let applied = store.apply(org, &sub.actions, cx.now, |_| {
        let (fraction, codes) = partial?;
        (rng.random::<f64>() < *fraction).then(|| codes[rng.random_range(0..codes.len())])
    });
    let committed = applied.results.iter().any(|r| r.is_ok());
    let reply = if sub.single {
        match &applied.results[0] {
            Ok((id, seq)) => Reply::json(
                StatusCode::CREATED,
                &json!({ "action_id": id, "status": "applied", "sequence": seq }),
            ),
            Err(e) => {
                let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
                let mut err = ApiError::new(status, e.message.clone());
                if let Some(f) = &e.field {
                    err = err.detail(f.trim_start_matches("actions[0]."), e.message.clone());
                }
                cx.error(err)
            }
        }
    } else {
        let results: Vec<ActionResult> = applied
            .results
            .iter()
            .enumerate()
            .map(|(index, r)| match r {
                Ok((id, seq)) => ActionResult {
                    index,
                    action_id: Some(id.clone()),
                    status: "applied",
                    code: 201,
                    sequence: Some(*seq),
                    error: None,
                },
                Err(e) => ActionResult {
                    index,
                    action_id: None,
                    status: "failed",
                    code: e.code,
                    sequence: None,
                    error: Some(json!({ "code": e.code, "message": e.message, "field": e.field })),
                },
            })
            .collect();
        let failed = results.iter().filter(|r| r.action_id.is_none()).count();
        Reply::json(
            StatusCode::OK,
            &json!({ "batch_id": applied.batch_id, "applied": results.len() - failed, "failed": failed, "results": results }),
        )
    };
    // A reply is stored once something committed, or when the answer is final; an
    // all-transient failure is not, so the same key can be retried.
    let final_failure = applied
        .results
        .iter()
        .all(|r| r.as_ref().err().is_some_and(|e| e.is_final()));
    if let Some(k) = key
        && (committed || final_failure)
    {
        store.store_reply(
            org,
            k,
            request_hash,
            reply.status.as_u16(),
            reply.body.clone(),
            cx.now,
        );
    }
    drop(store);
    let outcomes: Vec<([u8; 16], Result<(), bool>)> = sub
        .fingerprints
        .iter()
        .zip(&applied.results)
        .map(|(fp, r)| (*fp, r.as_ref().map(|_| ()).map_err(|e| e.is_final())))
        .collect();
    twin.oracle
        .outcomes(&outcomes, key.map(|k| (org, k)), cx.now);
    Ok(reply)
}

fn health(twin: &Twin, cx: &Ctx, degraded: bool) -> Reply {
    let (last, lag) = twin.store().sequencer.health(cx.now);
    Reply::json(
        StatusCode::OK,
        &json!({
            "status": if degraded { "degraded" } else { "ok" },
            "version": env!("CARGO_PKG_VERSION"),
            "sequencer": { "last_checkpoint": last, "lag_s": lag },
        }),
    )
}

#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct Refresh {
    refresh_token: String,
}

fn login(twin: &Twin, cx: &Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let l: Login = parse_json(body)?;
    Ok(Reply::json(
        StatusCode::OK,
        &twin.auth.login(&l.email, &l.password, cx.now, cx.unix)?,
    ))
}

fn refresh(twin: &Twin, cx: &Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let r: Refresh = parse_json(body)?;
    Ok(Reply::json(
        StatusCode::OK,
        &twin.auth.refresh(&r.refresh_token, cx.now, cx.unix)?,
    ))
}

#[derive(Deserialize)]
struct NewTemplate {
    name: String,
    #[serde(default)]
    properties: Map<String, Value>,
}

fn create_template(twin: &Twin, cx: &Ctx, org: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let t: NewTemplate = parse_json(body)?;
    if t.name.trim().is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    Ok(Reply::json(
        StatusCode::CREATED,
        &twin
            .store()
            .create_template(org, t.name, t.properties, rfc3339(cx.unix)),
    ))
}

/// A numeric query parameter, or a 400 naming it.
fn query(cx: &Ctx, name: &str, default: usize) -> Result<usize, ApiError> {
    match cx
        .query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
    {
        None => Ok(default),
        Some((_, v)) => v
            .parse()
            .map_err(|_| ApiError::field(name, "must be a non-negative integer")),
    }
}

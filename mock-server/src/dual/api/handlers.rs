//! The endpoints: auth, event bus, templates, objects, webhooks, sequencer, health.

use bytes::Bytes;
use http::{Method, StatusCode};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Ctx, Route};
use crate::dual::Dual;
use crate::dual::ebus::{ActionIn, BatchIn};
use crate::engine::clock::rfc3339;
use crate::engine::error::{ApiError, parse_json};
use crate::engine::faults::Decision;
use crate::engine::reply::Reply;

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
    /// Parse a submission from `org` (fingerprints are per organization).
    pub fn parse(
        route: &Route,
        body: &[u8],
        max_batch: usize,
        org: &str,
    ) -> Result<Submission, ApiError> {
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
        let fingerprints = actions.iter().map(|a| a.fingerprint(org)).collect();
        Ok(Submission {
            actions,
            fingerprints,
            single,
        })
    }
}

/// Route a request to its handler: caller, scope, a mutation's signature and the
/// rate limit first.
pub fn dispatch(
    dual: &Dual,
    cx: &mut Ctx,
    route: &Route,
    body: Bytes,
    submission: Option<Result<Submission, ApiError>>,
    d: &Decision,
    rng: &mut ChaCha8Rng,
) -> Result<Reply, ApiError> {
    match route {
        Route::Health => return Ok(health(dual, cx, d.degraded)),
        Route::Login => return login(dual, cx, &body),
        Route::Refresh => return refresh(dual, cx, &body),
        _ => {}
    }
    // Arrival authenticated every route that is not public; a public route
    // left to here would answer the placeholder (an empty 401).
    debug_assert!(
        !route.public(),
        "public route {route:?} must be answered above"
    );
    let p = cx.principal.clone()?;
    p.require(route.scope(&cx.method))?;
    if let Err(e) = &cx.intent {
        // Refused like a bad credential (401). The caller is known and may write,
        // so the actions it sent arrived and were due: they are refused for good.
        return Err(match &submission {
            Some(Ok(sub)) => super::submit::reject(dual, sub, e.clone()),
            _ => e.clone(),
        });
    }
    let submission = submission.transpose()?;
    if let Some(group) = route.group(&cx.method) {
        let cost = submission.as_ref().map_or(1, |s| s.actions.len() as u32);
        match dual.limiter.charge(&p.org, group, cost, cx.now, cx.unix) {
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
    let clock = &dual.engine.clock;
    let not_found = |what: &str, id: &str| ApiError::not_found(format!("{what} {id}"));
    match (route, &cx.method) {
        (Route::Submit | Route::Batch, _) => {
            let sub =
                submission.ok_or_else(|| ApiError::field("body", "a JSON body is required"))?;
            super::submit::submit(dual, cx, org, sub, d, rng)
        }
        (Route::Action(id), _) => dual
            .store()
            .action(org, id, clock)
            .map(|a| Reply::json(StatusCode::OK, &a))
            .ok_or_else(|| not_found("action", id)),
        (Route::Templates, &Method::POST) => create_template(dual, cx, org, &body),
        (Route::Templates, _) => Ok(Reply::json(
            StatusCode::OK,
            &json!({ "templates": dual.store().templates(org) }),
        )),
        (Route::Objects, _) => {
            let (offset, limit) = (
                query(cx, "offset", 0)?,
                query(cx, "limit", DEFAULT_PAGE)?.min(MAX_PAGE),
            );
            Ok(Reply::json(
                StatusCode::OK,
                &dual.store().objects(org, offset, limit, clock),
            ))
        }
        (Route::Object(raw), _) => {
            let id = super::routes::object_id(raw)?;
            dual.store()
                .object(org, &id, clock)
                .map(|o| Reply::json(StatusCode::OK, &o))
                .ok_or_else(|| not_found("object", &id))
        }
        (Route::Webhooks, &Method::POST) => {
            let hook = dual
                .webhooks()
                .create(org, parse_json(&body)?, rfc3339(cx.unix))?;
            Ok(Reply::json(StatusCode::CREATED, &hook))
        }
        (Route::Webhooks, _) => Ok(Reply::json(
            StatusCode::OK,
            &json!({ "webhooks": dual.webhooks().list(org) }),
        )),
        (Route::Webhook(id), &Method::PATCH) => Ok(Reply::json(
            StatusCode::OK,
            &dual.webhooks().patch(org, id, parse_json(&body)?)?,
        )),
        (Route::Webhook(id), &Method::DELETE) => {
            dual.webhooks().delete(org, id)?;
            dual.hub.dispatcher.forget(id);
            Ok(Reply::bytes(StatusCode::NO_CONTENT, Bytes::new()))
        }
        (Route::WebhookEvents(id), _) => {
            dual.webhooks().get(org, id)?;
            Ok(Reply::json(
                StatusCode::OK,
                &json!({ "deliveries": dual.hub.dispatcher.log(id) }),
            ))
        }
        (Route::WebhookTest(id), _) => {
            dual.webhooks().get(org, id)?;
            let event = std::sync::Arc::new(crate::dual::webhooks::event::Event {
                id: dual.next_event_id(),
                event_type: "webhook.test".into(),
                org: org.to_string(),
                object_id: None,
                timestamp: rfc3339(cx.unix),
                payload: json!({ "webhook_id": id }),
                effect_key: None,
            });
            let d = crate::dual::webhooks::dispatch::Delivery {
                event: event.clone(),
                webhook: id.clone(),
                attempt: 0,
                created: cx.now,
                duplicate: false,
            };
            dual.hub.dispatcher.schedule(d, cx.now);
            Ok(Reply::json(
                StatusCode::ACCEPTED,
                &json!({ "queued": true, "event_id": event.id }),
            ))
        }
        (Route::Webhook(id), _) => Ok(Reply::json(StatusCode::OK, &dual.webhooks().get(org, id)?)),
        (Route::Batches, _) => {
            let limit = query(cx, "limit", DEFAULT_PAGE)?.min(MAX_PAGE);
            Ok(Reply::json(
                StatusCode::OK,
                &json!({ "batches": dual.store().sequencer.batches(clock, limit) }),
            ))
        }
        (Route::Checkpoints, _) => Ok(Reply::json(
            StatusCode::OK,
            &json!({ "checkpoints": dual.store().sequencer.checkpoints(clock) }),
        )),
        (Route::Health | Route::Login | Route::Refresh, _) => {
            unreachable!("public routes answered above")
        }
    }
}

/// `GET /health`'s body. The route is polled, so the body is written around its
/// two varying values (the sequencer's lag and last checkpoint, each rendered
/// by serde_json) rather than serialized key by key; a test holds it to the
/// serde rendering of [`Health`].
fn health(dual: &Dual, cx: &Ctx, degraded: bool) -> Reply {
    let (last, lag) = dual.store().sequencer.health(cx.now);
    let status = if degraded { "degraded" } else { "ok" };
    Reply::bytes(
        StatusCode::OK,
        health_body(lag, last.as_deref(), status).into(),
    )
}

fn health_body(lag_s: f64, last_checkpoint: Option<&str>, status: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    b.extend_from_slice(br#"{"sequencer":{"lag_s":"#);
    let _ = serde_json::to_writer(&mut b, &lag_s);
    b.extend_from_slice(br#","last_checkpoint":"#);
    let _ = serde_json::to_writer(&mut b, &last_checkpoint);
    b.extend_from_slice(br#"},"status":"#);
    let _ = serde_json::to_writer(&mut b, status);
    b.extend_from_slice(br#","version":""#);
    b.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    b.extend_from_slice(br#""}"#);
    b
}

/// The shape of `GET /health`'s body ([`health_body`] writes it).
#[cfg(test)]
#[derive(serde::Serialize)]
struct Health<'a> {
    sequencer: SequencerHealth<'a>,
    status: &'a str,
    version: &'static str,
}

#[cfg(test)]
#[derive(serde::Serialize)]
struct SequencerHealth<'a> {
    lag_s: f64,
    last_checkpoint: Option<&'a str>,
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

fn login(dual: &Dual, cx: &Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let l: Login = parse_json(body)?;
    Ok(Reply::json(
        StatusCode::OK,
        &dual.auth.login(&l.email, &l.password, cx.now, cx.unix)?,
    ))
}

fn refresh(dual: &Dual, cx: &Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let r: Refresh = parse_json(body)?;
    Ok(Reply::json(
        StatusCode::OK,
        &dual.auth.refresh(&r.refresh_token, cx.now, cx.unix)?,
    ))
}

#[derive(Deserialize)]
struct NewTemplate {
    name: String,
    #[serde(default)]
    properties: Map<String, Value>,
}

fn create_template(dual: &Dual, cx: &Ctx, org: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let t: NewTemplate = parse_json(body)?;
    if t.name.trim().is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    Ok(Reply::json(
        StatusCode::CREATED,
        &dual
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_body_is_the_serde_rendering_of_its_shape() {
        for (lag, last, status) in [
            (0.0, None, "ok"),
            (1.006_701_655, Some("cp_000042"), "degraded"),
            (12345.5, Some("odd \"id\"\n"), "ok"),
            (f64::NAN, None, "ok"),
        ] {
            let want = serde_json::to_vec(&Health {
                sequencer: SequencerHealth {
                    lag_s: lag,
                    last_checkpoint: last,
                },
                status,
                version: env!("CARGO_PKG_VERSION"),
            })
            .expect("serializes");
            let got = health_body(lag, last, status);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            );
        }
    }
}

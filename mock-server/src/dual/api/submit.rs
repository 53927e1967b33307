//! `POST /ebus/actions[/batch]`: replay a stored reply, or apply the actions in
//! order, answer per action, store the reply under its key, and account each action
//! in the oracle, all under the store lock so the books never disagree.

use bytes::Bytes;
use http::StatusCode;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Ctx;
use super::handlers::{MAX_KEY_LEN, Submission};
use crate::dual::Dual;
use crate::dual::ebus::{ActionErrorBody, ActionId, ActionResult, Applied, BatchReply};
use crate::dual::webhooks::event::{EFFECT_FIELD, Event, effect_key};
use crate::engine::error::ApiError;
use crate::engine::faults::Decision;
use crate::engine::idempotency::Replay;
use crate::engine::reply::Reply;

pub fn submit(
    dual: &Dual,
    cx: &mut Ctx,
    org: &str,
    sub: Submission,
    d: &Decision,
    rng: &mut ChaCha8Rng,
) -> Result<Reply, ApiError> {
    let key = cx.idempotency_key();
    if key.is_some_and(|k| k.is_empty() || k.len() > MAX_KEY_LEN) {
        let e = ApiError::field(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} characters"),
        );
        return Err(reject(dual, &sub, e));
    }
    let request_hash: [u8; 32] = {
        let mut h = Sha256::new();
        h.update(cx.path.as_bytes());
        h.update([0]);
        // The body's own digest, taken on arrival: the body is not hashed twice.
        h.update(cx.body_digest);
        h.finalize().into()
    };
    let mut store = dual.store();
    if let Some(k) = key {
        match store.idempotent.replay(org, k, &request_hash, cx.now) {
            Replay::Stored { status, body } => {
                dual.engine.oracle.replayed();
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                return Ok(Reply::bytes(status, body).header("idempotent-replayed", "true"));
            }
            Replay::Mismatch => {
                dual.engine.oracle.key_mismatch();
                let e = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Idempotency-Key reused with a different request",
                )
                .detail("Idempotency-Key", "was used before with another body");
                return Err(reject(dual, &sub, e));
            }
            Replay::Fresh => {}
        }
    }
    let partial = d.partial.as_ref();
    let applied = store.apply(org, &sub.actions, cx.now, |_| {
        let (fraction, codes) = partial?;
        (rng.random::<f64>() < *fraction).then(|| codes[rng.random_range(0..codes.len())])
    });
    let reply = render(cx, sub.single, &applied);
    // A reply is stored once something committed, or when the answer is final; an
    // all-transient failure is not, so the same key can be retried.
    let committed = applied.results.iter().any(|r| r.is_ok());
    let final_failure = applied
        .results
        .iter()
        .all(|r| r.as_ref().err().is_some_and(|e| e.is_final()));
    if let Some(k) = key
        && (committed || final_failure)
    {
        store.idempotent.store(
            org,
            k,
            request_hash,
            reply.status.as_u16(),
            reply.body.clone(),
            cx.now,
        );
    }
    let key = key.map(|k| (org, k));
    cx.transient = account(dual, &sub, &applied, key, cx.now);
    drop(store);
    raise_events(dual, cx, org, &sub, &applied);
    Ok(reply)
}

/// Book each action's outcome in the oracle (leaving applied webhook effects out of
/// the achieved rate); returns the fingerprints of the actions that failed
/// transiently, which the client should resubmit.
fn account(
    dual: &Dual,
    sub: &Submission,
    applied: &Applied,
    key: Option<(&str, &str)>,
    now: std::time::Duration,
) -> Vec<[u8; 16]> {
    let outcomes = applied.outcomes(&sub.fingerprints);
    dual.engine.oracle.outcomes(&outcomes, key, now);
    let effects = sub
        .actions
        .iter()
        .zip(&applied.results)
        .filter(|(a, r)| r.is_ok() && a.payload.get(EFFECT_FIELD).is_some())
        .count();
    dual.engine.oracle.effects_applied(effects as u32, now);
    outcomes
        .into_iter()
        .filter(|(_, r)| *r == Err(false))
        .map(|(fp, _)| fp)
        .collect()
}

/// A final refusal of the whole request: none of its actions is due any more.
pub(super) fn reject(dual: &Dual, sub: &Submission, e: ApiError) -> ApiError {
    let outcomes: Vec<_> = sub.fingerprints.iter().map(|fp| (*fp, Err(true))).collect();
    dual.engine
        .oracle
        .outcomes(&outcomes, None, std::time::Duration::ZERO);
    e
}

/// The reply: one action answers as one, a batch answers per action.
fn render(cx: &Ctx, single: bool, applied: &Applied) -> Reply {
    if single {
        return match &applied.results[0] {
            Ok(seq) => Reply::json(
                StatusCode::CREATED,
                &json!({ "action_id": ActionId(*seq), "status": "applied", "sequence": seq }),
            ),
            Err(e) => {
                let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
                let mut err = ApiError::new(status, e.message.clone());
                if let Some(f) = &e.field {
                    err = err.detail(f.trim_start_matches("actions[0]."), e.message.clone());
                }
                cx.error(err)
            }
        };
    }
    let results: Vec<ActionResult> = applied
        .results
        .iter()
        .enumerate()
        .map(|(index, r)| match r {
            Ok(seq) => ActionResult {
                index,
                action_id: Some(ActionId(*seq)),
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
                error: Some(ActionErrorBody {
                    code: e.code,
                    message: &e.message,
                    field: e.field.as_deref(),
                }),
            },
        })
        .collect();
    let failed = results.iter().filter(|r| r.action_id.is_none()).count();
    let body = BatchReply {
        batch_id: applied.batch_id.as_deref(),
        applied: results.len() - failed,
        failed,
        results,
    };
    // About 90 bytes per applied action's result: sized once, not grown.
    let mut out = Vec::with_capacity(96 * body.results.len() + 64);
    if serde_json::to_writer(&mut out, &body).is_err() {
        out.clear();
    }
    Reply::bytes(StatusCode::OK, Bytes::from(out))
}

/// The events applied (and failed) actions raise, and the effects they perform.
fn raise_events(dual: &Dual, cx: &Ctx, org: &str, sub: &Submission, applied: &Applied) {
    let listening = dual.webhooks().any_active(org);
    let timestamp = crate::engine::clock::rfc3339(cx.unix);
    let mut events = Vec::new();
    for ((action, result), touched) in sub
        .actions
        .iter()
        .zip(&applied.results)
        .zip(&applied.touched)
    {
        let mut event = |event_type: &str,
                         object_id: Option<&str>,
                         payload: serde_json::Value,
                         effect_key: Option<String>| {
            events.push(Event {
                id: dual.next_event_id(),
                event_type: event_type.to_string(),
                org: org.to_string(),
                object_id: object_id.map(str::to_string),
                timestamp: timestamp.clone(),
                payload,
                effect_key,
            });
        };
        match (result, touched) {
            (Ok(sequence), Some((object_id, version, owner))) => {
                if let Some(key) = action.payload.get(EFFECT_FIELD).and_then(|v| v.as_str()) {
                    dual.engine.oracle.effects.effect(key);
                }
                if !listening {
                    continue;
                }
                let event_type = match action.action_type.as_str() {
                    "Emit" => "object.created",
                    "Transfer" => "object.transferred",
                    _ => "object.updated",
                };
                let action_id = ActionId(*sequence);
                let key = effect_key(event_type, object_id, *version);
                event(
                    event_type,
                    Some(object_id),
                    json!({ "version": version, "owner": owner, "action_id": action_id }),
                    key,
                );
                event(
                    "action.executed",
                    Some(object_id),
                    json!({ "action_id": action_id, "action_type": action.action_type, "sequence": sequence }),
                    None,
                );
            }
            (Err(e), _) if listening => event(
                "action.failed",
                action.object_id.as_deref(),
                json!({ "action_type": action.action_type, "code": e.code, "message": e.message }),
                None,
            ),
            _ => {}
        }
    }
    dual.raise(events);
}

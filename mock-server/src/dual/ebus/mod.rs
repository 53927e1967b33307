//! Dual's state: templates, objects and the actions that change them, the
//! idempotency store, and the bounded action records behind `GET /ebus/actions/{id}`.
//!
//! Everything here is synchronous and runs under one lock, so a batch is applied in
//! order and an idempotency check, the apply and the stored reply are one step.
//!
//! - [`records`]: the bounded action records, 56 bytes each.
//! - [`objects`]: the bounded objects, 72 bytes each.

pub mod objects;
pub mod records;

use std::time::Duration;

use compact_str::{CompactString, format_compact};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::dual::sequencer::{Sequencer, batch_id, checkpoint_id};
use crate::engine::clock::{Clock, rfc3339};
use crate::engine::idempotency::IdempotencyStore;
use objects::{ObjState, Object, Objects};
pub use records::ActionId;
use records::{Orgs, Record, Records};

/// Dual's built-in action types (docs/design.md).
pub const ACTION_TYPES: [&str; 7] = [
    "Emit", "Transfer", "Update", "Redeem", "Burn", "Drop", "Pickup",
];

/// One action as submitted.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionIn {
    /// Inline (no allocation) up to 24 bytes, as are most object ids.
    pub action_type: CompactString,
    #[serde(default)]
    pub object_id: Option<CompactString>,
    #[serde(default)]
    pub payload: Value,
}

impl ActionIn {
    /// The oracle's identity of an action: a digest of its organization, type, object
    /// and payload.
    /// Two submissions of the same logical action have the same fingerprint; load
    /// generators make every logical action unique (a nonce in the payload).
    pub fn fingerprint(&self, org: &str) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(org.as_bytes());
        h.update([0]);
        h.update(self.action_type.as_bytes());
        h.update([0]);
        h.update(self.object_id.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
        // serde_json's Map is ordered by key, so this text is canonical; it is
        // written straight into the digest (which takes any bytes: a JSON value
        // always serializes, so there is no error to handle).
        let _ = serde_json::to_writer(&mut h, &self.payload);
        let full: [u8; 32] = h.finalize().into();
        full[..16].try_into().expect("16 of 32 bytes")
    }
}

/// A batch as submitted.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchIn {
    pub actions: Vec<ActionIn>,
}

/// Why one action failed: its own code, message and (for 400s) field.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionError {
    pub code: u16,
    pub message: String,
    pub field: Option<String>,
}

impl ActionError {
    fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }
    fn field(field: &str, reason: impl Into<String>) -> Self {
        Self {
            code: 400,
            message: reason.into(),
            field: Some(field.to_string()),
        }
    }
    /// Retrying cannot help (4xx other than 408 and 429).
    pub fn is_final(&self) -> bool {
        (400..500).contains(&self.code) && self.code != 408 && self.code != 429
    }
}

/// One action's result in a batch reply, serialized straight from the books
/// (borrowed, so a 500-action reply builds no JSON tree).
#[derive(Debug, Clone, Serialize)]
pub struct ActionResult<'a> {
    pub index: usize,
    pub action_id: Option<ActionId>,
    pub status: &'static str,
    pub code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ActionErrorBody<'a>>,
}

/// A failed action's error in a batch reply: `{code, message, field}` (`field`
/// null when the error is not about one field).
#[derive(Debug, Clone, Serialize)]
pub struct ActionErrorBody<'a> {
    pub code: u16,
    pub message: &'a str,
    pub field: Option<&'a str>,
}

/// A batch reply: `{batch_id, applied, failed, results}`.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReply<'a> {
    pub batch_id: Option<&'a str>,
    pub applied: usize,
    pub failed: usize,
    pub results: Vec<ActionResult<'a>>,
}

/// What applying a list of actions did.
#[derive(Debug)]
pub struct Applied {
    /// The sequencer batch, if anything was applied.
    pub batch_id: Option<String>,
    /// Per action: its sequence (its id is `act_{sequence}`, [`ActionId`]) or
    /// why it failed.
    pub results: Vec<Result<u64, ActionError>>,
    /// Per action: the object it touched, as it stands right after the action
    /// (id, version, owner), for the events it raises.
    pub touched: Vec<Option<(CompactString, u64, CompactString)>>,
}

impl Applied {
    /// Per action, as the oracle books it: its fingerprint, and `Ok` applied or
    /// `Err(final)` failed (finally or transiently).
    pub fn outcomes(&self, fingerprints: &[[u8; 16]]) -> Vec<([u8; 16], Result<(), bool>)> {
        fingerprints
            .iter()
            .zip(&self.results)
            .map(|(fp, r)| (*fp, r.as_ref().map(|_| ()).map_err(|e| e.is_final())))
            .collect()
    }
}

/// Dual's books, behind the twin's state lock.
#[derive(Debug)]
pub struct Store {
    next_object: u64,
    next_template: u64,
    objects: Objects,
    templates: Vec<Value>,
    actions: Records,
    orgs: Orgs,
    /// Stored replies per idempotency key.
    pub idempotent: IdempotencyStore,
    pub sequencer: Sequencer,
    /// Actions applied and charged to the organization (its fee).
    pub charged: u64,
}

impl Store {
    pub fn new(action_capacity: usize, sequencer: Sequencer) -> Self {
        Self {
            next_object: 1,
            next_template: 1,
            objects: Objects::new(action_capacity),
            templates: Vec::new(),
            actions: Records::new(action_capacity),
            orgs: Orgs::default(),
            idempotent: IdempotencyStore::default(),
            sequencer,
            charged: 0,
        }
    }

    /// Apply a list of actions in order. `fail(i)` is the partial-batch fault: a code
    /// that action `i` fails with instead of being applied.
    pub fn apply(
        &mut self,
        org: &str,
        actions: &[ActionIn],
        now: Duration,
        mut fail: impl FnMut(usize) -> Option<u16>,
    ) -> Applied {
        // Each action's object as it stands right after that action.
        let outcomes: Vec<Result<(CompactString, u64, CompactString), ActionError>> = actions
            .iter()
            .enumerate()
            .map(|(i, a)| match fail(i) {
                Some(code) => Err(ActionError::new(code, "injected: action failed")),
                None => match self.apply_one(org, a, now) {
                    Ok(id) => {
                        let (version, owner) = self
                            .objects
                            .get(&id)
                            .map(|o| (o.version, o.owner.clone()))
                            .unwrap_or_default();
                        Ok((id, version, owner))
                    }
                    Err(mut e) => {
                        e.field = e.field.map(|f| format!("actions[{i}].{f}"));
                        Err(e)
                    }
                },
            })
            .collect();
        let applied = outcomes.iter().filter(|o| o.is_ok()).count() as u32;
        self.charged += u64::from(applied);
        if applied == 0 {
            let touched = outcomes.iter().map(|_| None).collect();
            let results = outcomes.into_iter().map(|o| o.map(|_| 0)).collect();
            return Applied {
                batch_id: None,
                results,
                touched,
            };
        }
        let (batch, checkpoint, mut sequence) = self.sequencer.record(applied, now);
        let org_index = self.orgs.intern(org);
        let created_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let mut results = Vec::with_capacity(outcomes.len());
        let mut touched = Vec::with_capacity(outcomes.len());
        for (o, a) in outcomes.into_iter().zip(actions) {
            let (object_id, version, owner) = match o {
                Ok(t) => t,
                Err(e) => {
                    results.push(Err(e));
                    touched.push(None);
                    continue;
                }
            };
            let kind = ACTION_TYPES
                .iter()
                .position(|t| *t == a.action_type)
                .unwrap_or_default() as u8;
            self.actions.push(
                sequence,
                Record {
                    object: object_id.clone(),
                    batch,
                    checkpoint,
                    created_ns,
                    org: org_index,
                    kind,
                },
            );
            results.push(Ok(sequence));
            touched.push(Some((object_id, version, owner)));
            sequence += 1;
        }
        Applied {
            batch_id: Some(batch_id(batch)),
            results,
            touched,
        }
    }

    /// Apply one action; returns the object it touched.
    fn apply_one(
        &mut self,
        org: &str,
        a: &ActionIn,
        now: Duration,
    ) -> Result<CompactString, ActionError> {
        let empty = Map::new();
        let payload = match &a.payload {
            Value::Null => &empty,
            Value::Object(m) => m,
            _ => return Err(ActionError::field("payload", "must be an object")),
        };
        let str_field = |key: &str| -> Result<Option<String>, ActionError> {
            match payload.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ActionError::field(
                    &format!("payload.{key}"),
                    "must be a string",
                )),
            }
        };
        if a.action_type == "Emit" {
            let template = match str_field("template_id")? {
                None => None,
                Some(t) => match self
                    .templates
                    .iter()
                    .position(|v| v["id"] == t && v["org_id"] == org)
                {
                    Some(i) => Some(i as u32),
                    None => {
                        return Err(ActionError {
                            code: 404,
                            message: format!("template {t} not found"),
                            field: Some("payload.template_id".into()),
                        });
                    }
                },
            };
            let id = match &a.object_id {
                Some(id) if self.objects.contains(id) => {
                    return Err(ActionError::new(409, format!("object {id} already exists")));
                }
                Some(id) => id.clone(),
                None => loop {
                    // A client may have chosen an `obj_N` id itself: skip it.
                    let id = format_compact!("obj_{}", self.next_object);
                    self.next_object += 1;
                    if !self.objects.contains(&id) {
                        break id;
                    }
                },
            };
            let properties = match payload.get("properties") {
                None => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => {
                    return Err(ActionError::field(
                        "payload.properties",
                        "must be an object",
                    ));
                }
            };
            let owner = str_field("owner")?;
            let org_index = self.orgs.intern(org);
            self.objects.insert(
                &id,
                Object::new(
                    owner.as_deref().unwrap_or(org),
                    org_index,
                    template,
                    properties,
                    now,
                ),
            );
            return Ok(id);
        }
        if !ACTION_TYPES.contains(&a.action_type.as_str()) {
            return Err(ActionError::field(
                "action_type",
                format!(
                    "unknown action type; expected one of {}",
                    ACTION_TYPES.join(", ")
                ),
            ));
        }
        let id = a.object_id.clone().ok_or_else(|| {
            ActionError::field("object_id", format!("{} needs object_id", a.action_type))
        })?;
        let to = str_field("to")?;
        let org_index = self.orgs.find(org);
        let obj = self
            .objects
            .get_mut(&id)
            .filter(|o| Some(o.org) == org_index)
            .ok_or_else(|| ActionError::new(404, format!("object {id} not found")))?;
        let illegal = |o: &Object| {
            ActionError::new(
                409,
                format!(
                    "illegal transition: {} on a {:?} object",
                    a.action_type, o.state
                ),
            )
        };
        match (a.action_type.as_str(), obj.state) {
            (_, ObjState::Burned) => return Err(illegal(obj)),
            ("Transfer", _) => {
                obj.owner = to
                    .ok_or_else(|| ActionError::field("payload.to", "Transfer needs payload.to"))?
                    .into()
            }
            ("Update", _) => match payload.get("properties") {
                Some(Value::Object(m)) => obj.merge_properties(m),
                _ => {
                    return Err(ActionError::field(
                        "payload.properties",
                        "Update needs an object of properties",
                    ));
                }
            },
            ("Redeem", ObjState::Active) => obj.state = ObjState::Redeemed,
            ("Burn", _) => obj.state = ObjState::Burned,
            ("Drop", ObjState::Active) => obj.state = ObjState::Dropped,
            ("Pickup", ObjState::Dropped) => {
                obj.state = ObjState::Active;
                if let Some(to) = to {
                    obj.owner = to.into();
                }
            }
            _ => return Err(illegal(obj)),
        }
        obj.changed(now);
        Ok(id)
    }

    /// An object's JSON form, with the names behind its indexes.
    fn view(&self, id: &str, o: &Object, clock: &Clock) -> Value {
        let template = o
            .template
            .and_then(|i| self.templates.get(i as usize))
            .map(|t| &t["id"]);
        o.view(id, self.orgs.name(o.org), template, clock)
    }

    pub fn object(&self, org: &str, id: &str, clock: &Clock) -> Option<Value> {
        let org = self.orgs.find(org)?;
        self.objects
            .get(id)
            .filter(|o| o.org == org)
            .map(|o| self.view(id, o, clock))
    }

    pub fn objects(&self, org: &str, offset: usize, limit: usize, clock: &Clock) -> Value {
        let org = self.orgs.find(org);
        let mine: Vec<(&str, &Object)> = self
            .objects
            .in_order()
            .filter(|(_, o)| Some(o.org) == org)
            .collect();
        let page: Vec<Value> = mine
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(id, o)| self.view(id, o, clock))
            .collect();
        json!({ "objects": page, "total": mine.len(), "offset": offset, "limit": limit })
    }

    pub fn action(&self, org: &str, id: &str, clock: &Clock) -> Option<Value> {
        let org = self.orgs.find(org)?;
        let (sequence, a) = self.actions.get(id).filter(|(_, a)| a.org == org)?;
        Some(json!({
            "action_id": id, "action_type": ACTION_TYPES.get(usize::from(a.kind)), "object_id": a.object.as_str(),
            "status": "applied", "sequence": sequence, "batch_id": batch_id(a.batch),
            "checkpoint_id": checkpoint_id(a.checkpoint),
            "created_at": rfc3339(clock.unix_at(a.created_at())),
        }))
    }

    /// Objects and action records kept (for the footprint bench and tests).
    pub fn kept(&self) -> (usize, usize) {
        (self.objects.len(), self.actions.len())
    }

    pub fn create_template(
        &mut self,
        org: &str,
        name: String,
        properties: Map<String, Value>,
        at: String,
    ) -> Value {
        let t = json!({ "id": format!("tpl_{}", self.next_template), "org_id": org, "name": name, "properties": properties, "created_at": at });
        self.next_template += 1;
        self.templates.push(t.clone());
        t
    }

    pub fn templates(&self, org: &str) -> Vec<Value> {
        self.templates
            .iter()
            .filter(|t| t["org_id"] == org)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TwinConfig;

    fn action(t: &str, obj: Option<&str>, payload: Value) -> ActionIn {
        ActionIn {
            action_type: t.into(),
            object_id: obj.map(Into::into),
            payload,
        }
    }

    #[test]
    fn past_its_capacity_the_store_forgets_the_oldest_unchanged_object() {
        let mut s = Store::new(3, Sequencer::new(TwinConfig::sandbox("k", "t").sequencer));
        let t = Duration::from_secs(1);
        let emit = |id: &str| action("Emit", Some(id), json!({}));
        s.apply("org", &[emit("pool"), emit("a"), emit("b")], t, |_| None);
        s.apply(
            "org",
            &[action("Transfer", Some("pool"), json!({"to": "bob"}))],
            t,
            |_| None,
        );
        s.apply("org", &[emit("c"), emit("d")], t, |_| None);
        let clock = Clock::new(1.0);
        let kept: Vec<bool> = ["pool", "a", "b", "c", "d"]
            .iter()
            .map(|id| s.object("org", id, &clock).is_some())
            .collect();
        assert_eq!(
            kept,
            [true, false, false, true, true],
            "bounded, the transferred one kept"
        );
        assert_eq!(s.objects("org", 0, 10, &clock)["total"], 3);
    }

    #[test]
    fn a_failing_action_does_not_stop_the_rest() {
        let mut s = Store::new(100, Sequencer::new(TwinConfig::sandbox("k", "t").sequencer));
        let t = Duration::from_secs(1);
        let out = s.apply(
            "org",
            &[
                action("Emit", Some("o1"), json!({})),
                action("Transfer", Some("missing"), json!({"to": "bob"})),
                action("Transfer", Some("o1"), json!({"to": "bob"})),
                action("Burn", Some("o1"), json!({})),
                action("Update", Some("o1"), json!({"properties": {"a": 1}})),
            ],
            t,
            |_| None,
        );
        let codes: Vec<u16> = out
            .results
            .iter()
            .map(|o| o.as_ref().map(|_| 200).unwrap_or_else(|e| e.code))
            .collect();
        assert_eq!(codes, [200, 404, 200, 200, 409]);
        let clock = Clock::new(1.0);
        let obj = s.object("org", "o1", &clock).expect("exists");
        assert_eq!(
            (obj["owner"].as_str(), obj["version"].as_u64()),
            (Some("bob"), Some(3))
        );
    }

    #[test]
    fn fingerprint_ignores_key_order_only() {
        let a = action("Update", Some("o"), json!({"x": 1, "y": 2}));
        let b = action("Update", Some("o"), json!({"y": 2, "x": 1}));
        let c = action("Update", Some("o"), json!({"x": 1, "y": 3}));
        assert_eq!(a.fingerprint("o"), b.fingerprint("o"));
        assert_ne!(a.fingerprint("o"), c.fingerprint("o"));
        assert_ne!(a.fingerprint("o"), a.fingerprint("other"));
    }
}

//! Dual's state: templates, objects and the actions that change them, the
//! idempotency store, and the bounded action records behind `GET /ebus/actions/{id}`.
//!
//! Everything here is synchronous and runs under one lock, so a batch is applied in
//! order and an idempotency check, the apply and the stored reply are one step.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::dual::sequencer::{Sequencer, checkpoint_id};
use crate::engine::clock::{Clock, rfc3339};
use crate::engine::idempotency::IdempotencyStore;

/// Dual's built-in action types (docs/design.md).
pub const ACTION_TYPES: [&str; 7] = [
    "Emit", "Transfer", "Update", "Redeem", "Burn", "Drop", "Pickup",
];

/// One action as submitted.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionIn {
    pub action_type: String,
    #[serde(default)]
    pub object_id: Option<String>,
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
        // serde_json's Map is ordered by key, so this text is canonical.
        h.update(self.payload.to_string().as_bytes());
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

/// One action's result in a batch reply.
#[derive(Debug, Clone, Serialize)]
pub struct ActionResult {
    pub index: usize,
    pub action_id: Option<String>,
    pub status: &'static str,
    pub code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
enum ObjState {
    Active,
    Redeemed,
    Dropped,
    Burned,
}

#[derive(Debug, Clone)]
struct Object {
    id: String,
    org: String,
    template_id: Option<String>,
    owner: String,
    version: u64,
    state: ObjState,
    properties: Map<String, Value>,
    created_at: Duration,
    updated_at: Duration,
}

impl Object {
    fn state_hash(&self) -> String {
        let text = json!([self.owner, self.version, self.state, self.properties]).to_string();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    fn view(&self, clock: &Clock) -> Value {
        json!({
            "id": self.id, "org_id": self.org, "template_id": self.template_id, "owner": self.owner,
            "version": self.version, "state": self.state, "properties": self.properties,
            "state_hash": self.state_hash(),
            "created_at": rfc3339(clock.unix_at(self.created_at)),
            "updated_at": rfc3339(clock.unix_at(self.updated_at)),
        })
    }
}

#[derive(Debug, Clone)]
struct ActionRecord {
    org: String,
    action_type: String,
    object_id: String,
    sequence: u64,
    batch_id: String,
    checkpoint: u64,
    created_at: Duration,
}

/// What applying a list of actions did.
#[derive(Debug)]
pub struct Applied {
    /// The sequencer batch, if anything was applied.
    pub batch_id: Option<String>,
    /// Per action: (action id, sequence) or why it failed.
    pub results: Vec<Result<(String, u64), ActionError>>,
    /// Per action: the object it touched, as it stands after the batch
    /// (id, version, owner), for the events it raises.
    pub touched: Vec<Option<(String, u64, String)>>,
}

/// Dual's books, behind the twin's state lock.
#[derive(Debug)]
pub struct Store {
    next_object: u64,
    next_template: u64,
    objects: HashMap<String, Object>,
    /// Objects in order of creation (an evicted one's place is dropped).
    object_order: VecDeque<String>,
    templates: Vec<Value>,
    actions: HashMap<String, ActionRecord>,
    action_order: VecDeque<String>,
    action_capacity: usize,
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
            objects: HashMap::new(),
            object_order: VecDeque::new(),
            templates: Vec::new(),
            actions: HashMap::new(),
            action_order: VecDeque::new(),
            action_capacity,
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
        let outcomes: Vec<Result<(String, u64, String), ActionError>> = actions
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
        let touched = outcomes.iter().map(|o| o.as_ref().ok().cloned()).collect();
        let applied = outcomes.iter().filter(|o| o.is_ok()).count() as u32;
        self.charged += u64::from(applied);
        if applied == 0 {
            let results = outcomes
                .into_iter()
                .map(|o| o.map(|_| (String::new(), 0)))
                .collect();
            return Applied {
                batch_id: None,
                results,
                touched,
            };
        }
        let (batch_id, checkpoint, mut sequence) = self.sequencer.record(applied, now);
        let results = outcomes
            .into_iter()
            .zip(actions)
            .map(|(o, a)| {
                let (object_id, _, _) = o?;
                let id = format!("act_{sequence}");
                self.remember(
                    id.clone(),
                    ActionRecord {
                        org: org.to_string(),
                        action_type: a.action_type.clone(),
                        object_id,
                        sequence,
                        batch_id: batch_id.clone(),
                        checkpoint,
                        created_at: now,
                    },
                );
                sequence += 1;
                Ok((id, sequence - 1))
            })
            .collect();
        Applied {
            batch_id: Some(batch_id),
            results,
            touched,
        }
    }

    /// Objects are kept up to the action store's capacity: past it, the oldest
    /// object never changed since it was made is forgotten (a load creates an
    /// object per `Emit`; objects that were transferred or updated, such as a
    /// run's transfer pool, stay). A day's soak stays within bounded memory.
    fn make_room_for_an_object(&mut self) {
        if self.objects.len() < self.action_capacity {
            return;
        }
        // At most one pass: objects moved to the back were changed since made.
        for _ in 0..self.object_order.len() {
            let Some(id) = self.object_order.pop_front() else {
                return;
            };
            match self.objects.get(&id) {
                Some(o) if o.version > 1 => self.object_order.push_back(id),
                Some(_) => {
                    self.objects.remove(&id);
                    return;
                }
                None => {}
            }
        }
        // Every object was changed: the oldest goes.
        if let Some(id) = self.object_order.pop_front() {
            self.objects.remove(&id);
        }
    }

    fn remember(&mut self, id: String, record: ActionRecord) {
        if self.action_order.len() >= self.action_capacity
            && let Some(old) = self.action_order.pop_front()
        {
            self.actions.remove(&old);
        }
        self.action_order.push_back(id.clone());
        self.actions.insert(id, record);
    }

    /// Apply one action; returns the object it touched.
    fn apply_one(&mut self, org: &str, a: &ActionIn, now: Duration) -> Result<String, ActionError> {
        let payload = match &a.payload {
            Value::Null => Map::new(),
            Value::Object(m) => m.clone(),
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
            let template_id = str_field("template_id")?;
            if let Some(t) = &template_id
                && !self
                    .templates
                    .iter()
                    .any(|v| v["id"] == *t && v["org_id"] == org)
            {
                return Err(ActionError {
                    code: 404,
                    message: format!("template {t} not found"),
                    field: Some("payload.template_id".into()),
                });
            }
            let id = match &a.object_id {
                Some(id) if self.objects.contains_key(id) => {
                    return Err(ActionError::new(409, format!("object {id} already exists")));
                }
                Some(id) => id.clone(),
                None => loop {
                    // A client may have chosen an `obj_N` id itself: skip it.
                    let id = format!("obj_{}", self.next_object);
                    self.next_object += 1;
                    if !self.objects.contains_key(&id) {
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
            let owner = str_field("owner")?.unwrap_or_else(|| org.to_string());
            self.make_room_for_an_object();
            self.object_order.push_back(id.clone());
            self.objects.insert(
                id.clone(),
                Object {
                    id: id.clone(),
                    org: org.to_string(),
                    template_id,
                    owner,
                    version: 1,
                    state: ObjState::Active,
                    properties,
                    created_at: now,
                    updated_at: now,
                },
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
        let obj = self
            .objects
            .get_mut(&id)
            .filter(|o| o.org == org)
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
                obj.owner =
                    to.ok_or_else(|| ActionError::field("payload.to", "Transfer needs payload.to"))?
            }
            ("Update", _) => match payload.get("properties") {
                Some(Value::Object(m)) => obj.properties.extend(m.clone()),
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
                    obj.owner = to;
                }
            }
            _ => return Err(illegal(obj)),
        }
        obj.version += 1;
        obj.updated_at = now;
        Ok(id)
    }

    pub fn object(&self, org: &str, id: &str, clock: &Clock) -> Option<Value> {
        self.objects
            .get(id)
            .filter(|o| o.org == org)
            .map(|o| o.view(clock))
    }

    pub fn objects(&self, org: &str, offset: usize, limit: usize, clock: &Clock) -> Value {
        let mine: Vec<&Object> = self
            .object_order
            .iter()
            .filter_map(|id| self.objects.get(id))
            .filter(|o| o.org == org)
            .collect();
        let page: Vec<Value> = mine
            .iter()
            .skip(offset)
            .take(limit)
            .map(|o| o.view(clock))
            .collect();
        json!({ "objects": page, "total": mine.len(), "offset": offset, "limit": limit })
    }

    pub fn action(&self, org: &str, id: &str, clock: &Clock) -> Option<Value> {
        self.actions.get(id).filter(|a| a.org == org).map(|a| {
            json!({
                "action_id": id, "action_type": a.action_type, "object_id": a.object_id, "status": "applied",
                "sequence": a.sequence, "batch_id": a.batch_id, "checkpoint_id": checkpoint_id(a.checkpoint),
                "created_at": rfc3339(clock.unix_at(a.created_at)),
            })
        })
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

//! Dual's objects, kept compact: the twin keeps as many objects as actions (a
//! load makes one per `Emit`), so an object is 72 bytes with its owner inline
//! (up to 24 bytes), no allocation for empty properties, its organization
//! interned and its template by index; its id is the map's key, inline too.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use compact_str::CompactString;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::engine::clock::{Clock, rfc3339};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjState {
    Active,
    Redeemed,
    Dropped,
    Burned,
}

/// One object.
#[derive(Debug, Clone)]
pub struct Object {
    pub owner: CompactString,
    /// None while it has no properties.
    pub properties: Option<Box<Map<String, Value>>>,
    pub created_ns: u64,
    pub updated_ns: u64,
    pub version: u64,
    /// An index into the store's organizations.
    pub org: u32,
    /// An index into the store's templates.
    pub template: Option<u32>,
    pub state: ObjState,
}

fn ns(t: Duration) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

impl Object {
    pub fn new(
        owner: &str,
        org: u32,
        template: Option<u32>,
        properties: Map<String, Value>,
        now: Duration,
    ) -> Self {
        Self {
            owner: owner.into(),
            properties: (!properties.is_empty()).then(|| Box::new(properties)),
            created_ns: ns(now),
            updated_ns: ns(now),
            version: 1,
            org,
            template,
            state: ObjState::Active,
        }
    }

    /// A change was applied at `now`.
    pub fn changed(&mut self, now: Duration) {
        self.version += 1;
        self.updated_ns = ns(now);
    }

    pub fn merge_properties(&mut self, more: &Map<String, Value>) {
        self.properties
            .get_or_insert_with(Default::default)
            .extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    fn properties(&self) -> Value {
        Value::Object(self.properties.as_deref().cloned().unwrap_or_default())
    }

    fn state_hash(&self, properties: &Value) -> String {
        let text = json!([self.owner.as_str(), self.version, self.state, properties]).to_string();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Its JSON form; `org` and `template_id` are the names behind its indexes.
    pub fn view(&self, id: &str, org: &str, template_id: Option<&Value>, clock: &Clock) -> Value {
        let properties = self.properties();
        json!({
            "id": id, "org_id": org, "template_id": template_id, "owner": self.owner.as_str(),
            "version": self.version, "state": self.state, "state_hash": self.state_hash(&properties),
            "properties": properties,
            "created_at": rfc3339(clock.unix_at(Duration::from_nanos(self.created_ns))),
            "updated_at": rfc3339(clock.unix_at(Duration::from_nanos(self.updated_ns))),
        })
    }
}

type Map2 = HashMap<CompactString, Object, foldhash::fast::RandomState>;

/// Objects by id, at most `capacity` of them.
#[derive(Debug)]
pub struct Objects {
    map: Map2,
    /// In order of creation (an evicted one's place is dropped; one changed
    /// since it was made moves to the back when its turn to go comes).
    order: VecDeque<CompactString>,
    capacity: usize,
}

impl Objects {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Map2::default(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Object> {
        self.map.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Object> {
        self.map.get_mut(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Add a new object, making room for it first.
    pub fn insert(&mut self, id: &str, object: Object) {
        self.make_room();
        let id = CompactString::from(id);
        self.order.push_back(id.clone());
        self.map.insert(id, object);
    }

    /// Objects are kept up to the action store's capacity: past it, the oldest
    /// object never changed since it was made is forgotten (a load creates an
    /// object per `Emit`; objects that were transferred or updated, such as a
    /// run's transfer pool, stay). A day's soak stays within bounded memory.
    fn make_room(&mut self) {
        if self.map.len() < self.capacity {
            return;
        }
        // At most one pass: objects moved to the back were changed since made.
        for _ in 0..self.order.len() {
            let Some(id) = self.order.pop_front() else {
                return;
            };
            match self.map.get(&id) {
                Some(o) if o.version > 1 => self.order.push_back(id),
                Some(_) => {
                    self.map.remove(&id);
                    return;
                }
                None => {}
            }
        }
        // Every object was changed: the oldest goes.
        if let Some(id) = self.order.pop_front() {
            self.map.remove(&id);
        }
    }

    /// Objects in order of creation, with their ids.
    pub fn in_order(&self) -> impl Iterator<Item = (&str, &Object)> {
        self.order
            .iter()
            .filter_map(|id| self.map.get(id).map(|o| (id.as_str(), o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_72_bytes() {
        assert_eq!(std::mem::size_of::<Object>(), 72);
    }

    #[test]
    fn empty_properties_take_no_allocation_and_merging_fills_them() {
        let mut o = Object::new("alice", 0, None, Map::new(), Duration::ZERO);
        assert!(o.properties.is_none());
        let more = json!({"a": 1}).as_object().cloned().expect("an object");
        o.merge_properties(&more);
        assert_eq!(o.properties(), json!({"a": 1}));
    }
}

//! The subgraph's GraphQL schema, built at start from `schema.graphql` (parsed with
//! `graphql-parser`) into an `async-graphql` dynamic schema whose every field has
//! the one generic resolver of [`super::resolve`]. [`Shape`] keeps what the
//! resolvers need to know of the types: each field's type, and each interface's
//! implementations.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, InputObject, InputValue, Interface, InterfaceField, Object, Scalar,
    Schema, TypeRef,
};
use graphql_parser::schema::{Definition, Document, Type, TypeDefinition, parse_schema};

use super::entities::{Entity, Store};

/// The schema text the twin serves.
pub const SDL: &str = include_str!("schema.graphql");

/// A field's type, reduced to what resolution needs.
#[derive(Debug, Clone)]
pub struct FieldType {
    /// The named type inside lists and non-nulls.
    pub base: String,
    pub list: bool,
}

/// What a type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Enum,
    Object,
    Interface,
    Input,
}

/// The types as the resolvers see them.
#[derive(Debug, Default)]
pub struct Shape {
    kinds: HashMap<String, Kind>,
    fields: HashMap<(String, String), FieldType>,
    implementors: HashMap<String, Vec<String>>,
}

impl Shape {
    pub fn kind(&self, name: &str) -> Kind {
        self.kinds.get(name).copied().unwrap_or(Kind::Scalar)
    }

    pub fn field(&self, ty: &str, field: &str) -> Option<&FieldType> {
        self.fields.get(&(ty.to_string(), field.to_string()))
    }

    /// The named type of a field.
    pub fn field_type(&self, ty: &str, field: &str) -> Option<&str> {
        self.field(ty, field).map(|f| f.base.as_str())
    }

    /// The concrete types an entity of type `ty` may be (itself, or an
    /// interface's implementations).
    pub fn concrete<'a>(&'a self, ty: &'a str) -> Vec<&'a str> {
        match self.implementors.get(ty) {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => vec![ty],
        }
    }

    /// An entity by id under a type that may be an interface.
    pub fn lookup<'a>(&self, store: &'a Store, ty: &str, id: &str) -> Option<&'a Entity> {
        self.concrete(ty).into_iter().find_map(|t| store.get(t, id))
    }
}

fn base_of(t: &Type<'_, String>) -> (String, bool) {
    match t {
        Type::NamedType(n) => (n.clone(), false),
        Type::ListType(inner) => (base_of(inner).0, true),
        Type::NonNullType(inner) => base_of(inner),
    }
}

fn type_ref(t: &Type<'_, String>) -> TypeRef {
    match t {
        Type::NamedType(n) => TypeRef::Named(n.clone().into()),
        Type::ListType(inner) => TypeRef::List(Box::new(type_ref(inner))),
        Type::NonNullType(inner) => TypeRef::NonNull(Box::new(type_ref(inner))),
    }
}

fn input_value(v: &graphql_parser::schema::InputValue<'_, String>) -> InputValue {
    let mut iv = InputValue::new(v.name.clone(), type_ref(&v.value_type));
    if let Some(d) = &v.default_value {
        let text = d.to_string();
        if let Ok(value) = async_graphql::Value::from_json(default_json(&text)) {
            iv = iv.default_value(value);
        }
    }
    iv
}

/// A default value as JSON (the schema only uses numbers, booleans and enum names).
fn default_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// Build the schema and its shape from [`SDL`].
pub fn build() -> Result<(Schema, Arc<Shape>), String> {
    let doc: Document<'_, String> = parse_schema(SDL).map_err(|e| e.to_string())?;
    let mut shape = Shape::default();
    for def in &doc.definitions {
        let Definition::TypeDefinition(t) = def else {
            continue;
        };
        match t {
            TypeDefinition::Scalar(s) => {
                shape.kinds.insert(s.name.clone(), Kind::Scalar);
            }
            TypeDefinition::Enum(e) => {
                shape.kinds.insert(e.name.clone(), Kind::Enum);
            }
            TypeDefinition::InputObject(i) => {
                shape.kinds.insert(i.name.clone(), Kind::Input);
            }
            TypeDefinition::Object(o) => {
                shape.kinds.insert(o.name.clone(), Kind::Object);
                for i in &o.implements_interfaces {
                    shape
                        .implementors
                        .entry(i.clone())
                        .or_default()
                        .push(o.name.clone());
                }
                for f in &o.fields {
                    let (base, list) = base_of(&f.field_type);
                    shape
                        .fields
                        .insert((o.name.clone(), f.name.clone()), FieldType { base, list });
                }
            }
            TypeDefinition::Interface(i) => {
                shape.kinds.insert(i.name.clone(), Kind::Interface);
                for f in &i.fields {
                    let (base, list) = base_of(&f.field_type);
                    shape
                        .fields
                        .insert((i.name.clone(), f.name.clone()), FieldType { base, list });
                }
            }
            TypeDefinition::Union(u) => {
                shape.kinds.insert(u.name.clone(), Kind::Interface);
                shape.implementors.insert(u.name.clone(), u.types.clone());
            }
        }
    }
    let shape = Arc::new(shape);
    let mut builder = Schema::build("Query", None, None);
    for def in &doc.definitions {
        let Definition::TypeDefinition(t) = def else {
            continue;
        };
        builder = match t {
            TypeDefinition::Scalar(s) => builder.register(Scalar::new(s.name.clone())),
            TypeDefinition::Enum(e) => builder
                .register(Enum::new(e.name.clone()).items(e.values.iter().map(|v| v.name.clone()))),
            TypeDefinition::InputObject(i) => {
                let mut io = InputObject::new(i.name.clone());
                for f in &i.fields {
                    io = io.field(input_value(f));
                }
                builder.register(io)
            }
            TypeDefinition::Object(o) => {
                let mut obj = Object::new(o.name.clone());
                for i in &o.implements_interfaces {
                    obj = obj.implement(i.clone());
                }
                for f in &o.fields {
                    let (ty, name) = (o.name.clone(), f.name.clone());
                    let s = shape.clone();
                    let mut field =
                        Field::new(f.name.clone(), type_ref(&f.field_type), move |ctx| {
                            let out = super::resolve::field(&ctx, &s, &ty, &name);
                            FieldFuture::new(async move { out })
                        });
                    for a in &f.arguments {
                        field = field.argument(input_value(a));
                    }
                    obj = obj.field(field);
                }
                builder.register(obj)
            }
            TypeDefinition::Interface(i) => {
                let mut it = Interface::new(i.name.clone());
                for f in &i.fields {
                    let mut field = InterfaceField::new(f.name.clone(), type_ref(&f.field_type));
                    for a in &f.arguments {
                        field = field.argument(input_value(a));
                    }
                    it = it.field(field);
                }
                builder.register(it)
            }
            TypeDefinition::Union(u) => {
                let mut un = async_graphql::dynamic::Union::new(u.name.clone());
                for t in &u.types {
                    un = un.possible_type(t.clone());
                }
                builder.register(un)
            }
        };
    }
    let schema = builder
        .limit_depth(64)
        .finish()
        .map_err(|e| e.to_string())?;
    Ok((schema, shape))
}

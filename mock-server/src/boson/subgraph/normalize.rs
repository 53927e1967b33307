//! Accept what graph-node accepts. core-sdk's documents repeat fragment
//! definitions and declare variables they never use; graph-node (which parses with
//! the `graphql-parser` crate) runs them, a strict server refuses them. So the twin
//! parses with `graphql-parser` too, keeps the first definition of each fragment
//! (core-sdk's copies are identical), drops unused variable definitions, and hands
//! the printed document to the executor.

use std::collections::{BTreeSet, HashMap};

use graphql_parser::query::{
    Definition, Document, FragmentDefinition, OperationDefinition, Selection, SelectionSet, Value,
    parse_query,
};

/// The document as a strict validator will take it, or the parse error.
pub fn normalize(text: &str) -> Result<String, String> {
    let doc: Document<'_, String> = parse_query(text).map_err(|e| e.to_string())?;
    let mut seen = BTreeSet::new();
    let mut fragments: HashMap<String, FragmentDefinition<'_, String>> = HashMap::new();
    let mut definitions = Vec::new();
    for def in doc.definitions {
        match def {
            Definition::Fragment(f) => {
                if seen.insert(f.name.clone()) {
                    fragments.insert(f.name.clone(), f.clone());
                    definitions.push(Definition::Fragment(f));
                }
            }
            op => definitions.push(op),
        }
    }
    for def in &mut definitions {
        if let Definition::Operation(op) = def {
            prune_variables(op, &fragments);
        }
    }
    Ok(Document { definitions }.to_string())
}

/// Drop the variable definitions an operation never uses (through its fragments too).
fn prune_variables<'a>(
    op: &mut OperationDefinition<'a, String>,
    fragments: &HashMap<String, FragmentDefinition<'a, String>>,
) {
    let (vars, set) = match op {
        OperationDefinition::Query(q) => (&mut q.variable_definitions, &q.selection_set),
        OperationDefinition::Mutation(m) => (&mut m.variable_definitions, &m.selection_set),
        OperationDefinition::Subscription(s) => (&mut s.variable_definitions, &s.selection_set),
        OperationDefinition::SelectionSet(_) => return,
    };
    let mut used = BTreeSet::new();
    let mut visited = BTreeSet::new();
    collect(set, fragments, &mut used, &mut visited);
    vars.retain(|v| used.contains(&v.name));
}

fn collect<'a>(
    set: &SelectionSet<'a, String>,
    fragments: &HashMap<String, FragmentDefinition<'a, String>>,
    used: &mut BTreeSet<String>,
    visited: &mut BTreeSet<String>,
) {
    for sel in &set.items {
        match sel {
            Selection::Field(f) => {
                for (_, v) in &f.arguments {
                    value_vars(v, used);
                }
                for d in &f.directives {
                    for (_, v) in &d.arguments {
                        value_vars(v, used);
                    }
                }
                collect(&f.selection_set, fragments, used, visited);
            }
            Selection::FragmentSpread(s) => {
                for d in &s.directives {
                    for (_, v) in &d.arguments {
                        value_vars(v, used);
                    }
                }
                if visited.insert(s.fragment_name.clone())
                    && let Some(f) = fragments.get(&s.fragment_name)
                {
                    collect(&f.selection_set, fragments, used, visited);
                }
            }
            Selection::InlineFragment(i) => {
                for d in &i.directives {
                    for (_, v) in &d.arguments {
                        value_vars(v, used);
                    }
                }
                collect(&i.selection_set, fragments, used, visited);
            }
        }
    }
}

fn value_vars(v: &Value<'_, String>, used: &mut BTreeSet<String>) {
    match v {
        Value::Variable(name) => {
            used.insert(name.clone());
        }
        Value::List(items) => items.iter().for_each(|i| value_vars(i, used)),
        Value::Object(map) => map.values().for_each(|i| value_vars(i, used)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fragments_and_unused_variables_are_dropped() {
        let doc = "query q($id: ID!, $unused: Int, $inc: Boolean = false) { offer(id: $id) { ...F seller @include(if: $inc) { id } } } \
                   fragment F on Offer { id } fragment F on Offer { id }";
        let out = normalize(doc).expect("parses");
        assert_eq!(out.matches("fragment F").count(), 1, "{out}");
        assert!(!out.contains("$unused"), "{out}");
        assert!(out.contains("$inc"), "{out}");
        assert!(normalize("query { offer(").is_err());
    }
}

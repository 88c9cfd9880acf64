//! Field path to location map, so semantic errors (found after the typed parse) can point at
//! the line and column of the value they concern.

use std::collections::HashMap;

use super::de::join;
use super::node::{Loc, Node, Value};

/// Where each field of a spec file is written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Locations {
    values: HashMap<String, Loc>,
}

impl Locations {
    /// Records every node of the tree under its field path (`containers[1].ip`).
    pub(crate) fn from_tree(root: &Node) -> Self {
        let mut values = HashMap::new();
        let mut stack: Vec<(String, &Node)> = vec![(String::new(), root)];
        while let Some((path, node)) = stack.pop() {
            match &node.value {
                Value::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        stack.push((format!("{path}[{i}]"), item));
                    }
                }
                Value::Map(entries) => {
                    for (key, value) in entries {
                        stack.push((join(&path, &key.name), value));
                    }
                }
                _ => {}
            }
            values.entry(path).or_insert(node.loc);
        }
        Locations { values }
    }

    /// Whether `path` is written in the file.
    pub(crate) fn contains(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }

    /// The location of `path`, or of its nearest written ancestor when the field was left out
    /// (a default), or of the document when nothing matches.
    pub(crate) fn find(&self, path: &str) -> Loc {
        let mut p = path;
        loop {
            if let Some(loc) = self.values.get(p) {
                return *loc;
            }
            if p.is_empty() {
                return Loc { line: 1, column: 1 };
            }
            p = parent(p);
        }
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> ``.
fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_walk_up_to_the_root() {
        assert_eq!(
            parent("containers[1].healthcheck.test"),
            "containers[1].healthcheck"
        );
        assert_eq!(parent("containers[1]"), "containers");
        assert_eq!(parent("containers"), "");
    }

    #[test]
    fn missing_fields_point_at_their_parent() {
        let tree = super::super::node::parse("vms:\n  - name: a\n    image: x\n").unwrap();
        let locs = Locations::from_tree(&tree);
        assert_eq!(
            locs.find("vms[0].image"),
            Loc {
                line: 3,
                column: 12
            }
        );
        assert_eq!(locs.find("vms[0].memory_mb"), Loc { line: 2, column: 5 });
    }
}

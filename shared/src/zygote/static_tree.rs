//! Static Zygote trees in OpenLambda's JSON format:
//! `{"packages": ["numpy", "pandas==2.2.2"], "children": [ ...same shape... ]}`.
//! Names are `name` or `name==version` (compared as pip does, PEP 503); a
//! node imports its listed packages and their dependencies on top of its
//! parent's. The top object is the root: if it lists packages, they form a
//! pinned child of the bare root.
//!
//! OpenLambda's and Forklift's own tree files (e.g. OpenLambda's
//! `default-zygotes-40.json`) carry more keys, which are accepted by name
//! and ignored: `split_generation` (the step at which the tree builder
//! split the node off), `direct` (the packages the node was split for, a
//! subset of `packages`) and `test_count` (calls the node served while the
//! tree was fitted). Any other key, such as a misspelt `pakages`, is an
//! error. They also name packages a trace may not hold (`setuptools`,
//! which pip-compiled closures leave out): such a package is a
//! [`StaticTreeWarning`] (once per name), every node naming it keeps the
//! packages it can, and a node left adding nothing to its parent is merged
//! into the parent (its children hang from the parent), also a warning.

use super::ZygoteTree;
use crate::cost::CostModel;
use crate::pkgset::PackageSet;
use crate::trace::Catalog;
use crate::units::{Micros, ZygoteId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct StaticTreeNode {
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub children: Vec<StaticTreeNode>,
    /// OpenLambda: when the tree builder split this node off (ignored).
    #[serde(default)]
    pub split_generation: Option<u64>,
    /// Forklift: the packages the node was split for (ignored).
    #[serde(default)]
    pub direct: Option<Vec<String>>,
    /// Forklift: calls the node served while the tree was fitted (ignored).
    #[serde(default)]
    pub test_count: Option<u64>,
}
object_only!(StaticTreeNode, "a Zygote tree node");

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StaticTreeError {
    #[error("tree node {path} does not fit in the Zygote memory budget ({budget_mb:.1} MB)")]
    OverBudget { path: String, budget_mb: f64 },
}

/// Something in a tree file the trace cannot honour exactly; the tree is
/// still loaded (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaticTreeWarning {
    /// A package the trace lacks, named by `nodes` nodes (the first at
    /// `first`); those nodes keep their other packages.
    UnknownPackage {
        name: String,
        first: String,
        nodes: usize,
    },
    /// A node that adds no package to its parent's set; its children were
    /// attached to its parent.
    Merged { path: String },
}

impl fmt::Display for StaticTreeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaticTreeWarning::UnknownPackage { name, first, nodes } => write!(
                f,
                "package {name:?} is not in the trace; skipped in the {nodes} node(s) naming it (first: {first})"
            ),
            StaticTreeWarning::Merged { path } => write!(
                f,
                "tree node {path} adds no package to its parent's set; merged into its parent"
            ),
        }
    }
}

/// State of one `load_static` walk.
struct Loader<'a> {
    catalog: &'a Catalog,
    cost: &'a CostModel,
    /// Unknown package name -> (first node path, nodes naming it).
    unknown: BTreeMap<String, (String, usize)>,
    /// Unknown names in the order first met, for stable warnings.
    order: Vec<String>,
    merged: Vec<String>,
}

impl ZygoteTree {
    /// Adds the nodes of `tree` under the root, all pinned and ready at 0.
    /// Returns what could not be honoured exactly.
    pub fn load_static(
        &mut self,
        tree: &StaticTreeNode,
        catalog: &Catalog,
        cost: &CostModel,
    ) -> Result<Vec<StaticTreeWarning>, StaticTreeError> {
        let mut loader = Loader {
            catalog,
            cost,
            unknown: BTreeMap::new(),
            order: Vec::new(),
            merged: Vec::new(),
        };
        let root = ZygoteId(0);
        if tree.packages.is_empty() {
            loader.children(self, root, tree, "")?;
        } else {
            loader.node(self, root, tree, "root")?;
        }
        let mut warnings: Vec<StaticTreeWarning> = loader
            .order
            .iter()
            .map(|name| {
                let (first, nodes) = loader.unknown[name].clone();
                StaticTreeWarning::UnknownPackage {
                    name: name.clone(),
                    first,
                    nodes,
                }
            })
            .collect();
        warnings.extend(
            loader
                .merged
                .into_iter()
                .map(|path| StaticTreeWarning::Merged { path }),
        );
        Ok(warnings)
    }
}

impl Loader<'_> {
    fn children(
        &mut self,
        tree: &mut ZygoteTree,
        parent: ZygoteId,
        node: &StaticTreeNode,
        path: &str,
    ) -> Result<(), StaticTreeError> {
        for (i, c) in node.children.iter().enumerate() {
            let child = if path.is_empty() {
                format!("children[{i}]")
            } else {
                format!("{path}.children[{i}]")
            };
            self.node(tree, parent, c, &child)?;
        }
        Ok(())
    }

    fn node(
        &mut self,
        tree: &mut ZygoteTree,
        parent: ZygoteId,
        node: &StaticTreeNode,
        path: &str,
    ) -> Result<(), StaticTreeError> {
        let mut listed = PackageSet::new();
        for name in &node.packages {
            match self.catalog.lookup(name) {
                Ok(p) => listed.insert(p),
                Err(_) => self.unknown(name.trim(), path),
            }
        }
        let base = tree
            .node(parent)
            .map(|n| n.packages.clone())
            .unwrap_or_default();
        let packages = base.union(&self.catalog.close(&listed));
        if packages == base {
            self.merged.push(path.to_string());
            return self.children(tree, parent, node, path);
        }
        let growth = tree
            .grow(parent, packages, Micros::ZERO, true, self.cost)
            .ok_or_else(|| StaticTreeError::OverBudget {
                path: path.to_string(),
                budget_mb: tree.budget().as_mb_f64(),
            })?;
        self.children(tree, growth.zygote, node, path)
    }

    fn unknown(&mut self, name: &str, path: &str) {
        match self.unknown.get_mut(name) {
            Some((_, nodes)) => *nodes += 1,
            None => {
                self.unknown.insert(name.to_string(), (path.to_string(), 1));
                self.order.push(name.to_string());
            }
        }
    }
}

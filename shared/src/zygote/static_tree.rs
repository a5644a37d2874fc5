//! Static Zygote trees in OpenLambda's JSON format:
//! `{"packages": ["numpy", "pandas==2.2.2"], "children": [ ...same shape... ]}`.
//! Names are `name` or `name==version`; a node imports its listed packages
//! and their dependencies on top of its parent's. The top object is the
//! root: if it lists packages, they form a pinned child of the bare root.

use super::ZygoteTree;
use crate::cost::CostModel;
use crate::pkgset::PackageSet;
use crate::trace::Catalog;
use crate::units::{Micros, ZygoteId};
use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticTreeNode {
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub children: Vec<StaticTreeNode>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StaticTreeError {
    #[error("tree node {path}: package {name:?} is not in the trace")]
    UnknownPackage { path: String, name: String },
    #[error("tree node {path} adds no package to its parent's set")]
    Empty { path: String },
    #[error("tree node {path} does not fit in the Zygote memory budget ({budget_mb:.1} MB)")]
    OverBudget { path: String, budget_mb: f64 },
}

impl ZygoteTree {
    /// Adds the nodes of `tree` under the root, all pinned and ready at 0.
    pub fn load_static(
        &mut self,
        tree: &StaticTreeNode,
        catalog: &Catalog,
        cost: &CostModel,
    ) -> Result<(), StaticTreeError> {
        let root = ZygoteId(0);
        if tree.packages.is_empty() {
            for (i, c) in tree.children.iter().enumerate() {
                self.add_static(root, c, &format!("children[{i}]"), catalog, cost)?;
            }
            Ok(())
        } else {
            self.add_static(root, tree, "root", catalog, cost)
        }
    }

    fn add_static(
        &mut self,
        parent: ZygoteId,
        node: &StaticTreeNode,
        path: &str,
        catalog: &Catalog,
        cost: &CostModel,
    ) -> Result<(), StaticTreeError> {
        let mut listed = PackageSet::new();
        for name in &node.packages {
            let p = catalog
                .lookup(name)
                .map_err(|_| StaticTreeError::UnknownPackage {
                    path: path.to_string(),
                    name: name.clone(),
                })?;
            listed.insert(p);
        }
        let base = self
            .node(parent)
            .map(|n| n.packages.clone())
            .unwrap_or_default();
        let packages = base.union(&catalog.close(&listed));
        if packages == base {
            return Err(StaticTreeError::Empty {
                path: path.to_string(),
            });
        }
        let growth = self
            .grow(parent, packages, Micros::ZERO, true, cost)
            .ok_or_else(|| StaticTreeError::OverBudget {
                path: path.to_string(),
                budget_mb: self.budget().as_mb_f64(),
            })?;
        for (i, c) in node.children.iter().enumerate() {
            self.add_static(
                growth.zygote,
                c,
                &format!("{path}.children[{i}]"),
                catalog,
                cost,
            )?;
        }
        Ok(())
    }
}

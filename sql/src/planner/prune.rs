//! Narrows what stream-stream joins buffer to the columns the query reads above them.
//!
//! A stream-stream join keeps every row of both sides for the length of its window, so the
//! bytes of each buffered row are the join's main cost (state writes, flushes, compactions).
//! Columns that no expression above the join reads — up to the nearest projection, which
//! names everything the rest of the query sees — need not be buffered: the join emits them
//! as NULL, and nothing reads them. The output schema is unchanged.
//!
//! ```text
//!  Project(exprs) ─► columns read ─► Filter(predicate) ─► + columns read ─► Join: keep those
//! ```

use std::collections::BTreeSet;

use datafusion::physical_expr::utils::collect_columns;

use super::expr::PhysExpr;
use super::plan::{JoinStrategy, PlanNode};
use super::schema::FieldRole;

/// Sets the buffered columns of every stream-stream join under `root`.
pub(super) fn narrow_join_buffers(root: &mut PlanNode) {
    narrow(root, None);
}

fn columns_of(exprs: &[PhysExpr]) -> BTreeSet<usize> {
    exprs.iter().flat_map(|e| collect_columns(e).into_iter().map(|c| c.index())).collect()
}

/// `read`: the columns of `node`'s output that are read above it (`None`: all of them).
fn narrow(node: &mut PlanNode, read: Option<BTreeSet<usize>>) {
    match node {
        PlanNode::Project(p) => {
            let read = columns_of(&p.exprs);
            narrow(&mut p.input, Some(read));
        }
        PlanNode::Filter(f) => {
            let read = read.map(|mut r| {
                r.extend(columns_of(std::slice::from_ref(&f.predicate)));
                r
            });
            narrow(&mut f.input, read);
        }
        PlanNode::Join(j) => {
            if let (JoinStrategy::StreamStream { .. }, Some(read)) = (j.strategy, &read) {
                let user = |schema: &super::schema::RelSchema| {
                    schema.fields.iter().filter(|f| matches!(f.role, FieldRole::Column(_))).count()
                };
                let left = user(j.left.schema());
                let right = user(j.right.schema());
                j.left_buffered = Some(read.iter().copied().filter(|&i| i < left).collect());
                j.right_buffered = Some(
                    read.iter().filter(|&&i| i >= left && i < left + right).map(|&i| i - left).collect(),
                );
            }
            narrow(&mut j.left, None);
            narrow(&mut j.right, None);
        }
        PlanNode::Scan(_) => {}
        PlanNode::Repartition(r) => narrow(&mut r.input, None),
        PlanNode::Retract(r) => narrow(&mut r.input, None),
        PlanNode::Aggregate(a) => narrow(&mut a.input, None),
    }
}

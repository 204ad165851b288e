//! The typed plumbing under the DSL: processors, graph nodes and fan-out.
//!
//! Every DSL value (`KStream`, `KTable`, …) points at a [`Node`]: a place where records of one
//! type come out and children can attach. Attaching a child registers a *factory*; when the
//! runtime creates a task, the sub-topology's sources build their children recursively, so
//! each task gets its own chain of boxed [`Processor`]s with the types checked at compile time.
//! A node's [`Fanout`] is built once per task (memoized in the task builder) so nodes with
//! several parents — `merge`, joins — are shared, not duplicated.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Result;
use crate::record::Record;
use crate::task::{TaskBuilder, TaskContext};

/// Receives typed records inside a task.
pub trait Processor<K, V> {
    /// Handles one record.
    fn process(&mut self, record: Record<K, V>, ctx: &mut TaskContext) -> Result<()>;
    /// Stream time reached `watermark`. Operators with windows emit what closed, then
    /// forward the watermark downstream.
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()>;
    /// Flushes state before a commit, then downstream.
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()>;
}

/// Builds a child processor for one task.
pub type ChildFactory<K, V> =
    Arc<dyn Fn(&mut TaskBuilder<'_>) -> Result<Box<dyn Processor<K, V>>> + Send + Sync>;

/// Where records of type `(K, V)` come out of an operator.
pub struct Node<K, V> {
    pub(crate) id: usize,
    pub(crate) group: usize,
    children: Arc<Mutex<Vec<ChildFactory<K, V>>>>,
}

impl<K, V> Clone for Node<K, V> {
    fn clone(&self) -> Self {
        Node { id: self.id, group: self.group, children: self.children.clone() }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Node<K, V> {
    pub(crate) fn new(id: usize, group: usize) -> Self {
        Node { id, group, children: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Attaches a child.
    pub(crate) fn add_child(&self, child: ChildFactory<K, V>) {
        self.children.lock().push(child);
    }

    /// This node's fan-out for the task being built (built once per task).
    pub(crate) fn downstream(&self, b: &mut TaskBuilder<'_>) -> Result<Downstream<K, V>> {
        if let Some(existing) = b.memo.get(&self.id)
            && let Some(d) = existing.downcast_ref::<Downstream<K, V>>()
        {
            return Ok(d.clone());
        }
        // Register before building children so a (theoretical) cycle cannot recurse forever.
        let fanout: Downstream<K, V> = Rc::new(RefCell::new(Fanout { children: Vec::new() }));
        b.memo.insert(self.id, Box::new(fanout.clone()));
        let factories: Vec<_> = self.children.lock().clone();
        let mut children = Vec::with_capacity(factories.len());
        for f in factories {
            children.push(f(b)?);
        }
        fanout.borrow_mut().children = children;
        Ok(fanout)
    }
}

/// A task's shared handle to a node's fan-out.
pub type Downstream<K, V> = Rc<RefCell<Fanout<K, V>>>;

/// Sends each record to every child (cloning for all but the last).
pub struct Fanout<K, V> {
    children: Vec<Box<dyn Processor<K, V>>>,
}

impl<K: Clone, V: Clone> Fanout<K, V> {
    /// Whether anything is attached.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V> for Fanout<K, V> {
    fn process(&mut self, record: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        let n = self.children.len();
        if n == 0 {
            return Ok(());
        }
        for child in &mut self.children[..n - 1] {
            child.process(record.clone(), ctx)?;
        }
        self.children[n - 1].process(record, ctx)
    }

    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        for child in &mut self.children {
            child.advance(watermark, ctx)?;
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        for child in &mut self.children {
            child.flush(ctx)?;
        }
        Ok(())
    }
}

/// Forwards into a shared downstream.
pub(crate) fn forward<K: Clone + 'static, V: Clone + 'static>(
    d: &Downstream<K, V>,
    record: Record<K, V>,
    ctx: &mut TaskContext,
) -> Result<()> {
    d.borrow_mut().process(record, ctx)
}

/// A processor that just forwards into a shared downstream (used for merges).
pub(crate) struct Forward<K, V>(pub Downstream<K, V>);

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V> for Forward<K, V> {
    fn process(&mut self, record: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        forward(&self.0, record, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.0.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.0.borrow_mut().flush(ctx)
    }
}

//! Persistent queries compiled for an executor the caller runs.
//!
//! The engine normally hands the topology of a persistent query to its own executor (stream
//! threads, or the deterministic driver). Benchmarks and embedders sometimes need the
//! topology itself: to instantiate its tasks and push record batches straight into them
//! with no broker in between, or to start it in a `KafkaStreams` application of their own
//! with different settings. [`Engine::query_topology`] compiles a registered query exactly as
//! the engine does, optionally with its output redirected to another [`Sink`] — for example
//! [`Sink::Discard`], a blackhole that counts rows without encoding them.
//!
//! ```text
//!  CREATE STREAM s AS SELECT …  ──engine.execute──► catalog: query CSAS_S_1 (running as usual)
//!  engine.query_topology("CSAS_S_1", Some(Sink::Discard { rows })) ──► Topology (caller runs it)
//! ```
//!
//! The topology reads the query's source topics and, unless its sink is replaced, writes its
//! sink topic; internal topics carry the `${application.id}-` placeholder, resolved by
//! whoever runs it ([`brook_streams::topology::Topology::resolve_names`]).

use brook_streams::topology::Topology;

use crate::compile::{Sink, compile};
use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// Compiles the registered persistent query `query_id` (created by `CREATE STREAM|TABLE
    /// … AS SELECT` or `INSERT INTO … SELECT`) against the current catalog, without starting
    /// anything. With `sink = None` the topology writes the query's sink topic, as the engine
    /// runs it; otherwise its output goes to `sink`.
    ///
    /// Errors if the query does not exist or no longer plans (a source it reads was dropped).
    pub fn query_topology(&self, query_id: &str, sink: Option<Sink>) -> Result<Topology> {
        let st = self.state.lock();
        let info = st.catalog.query(query_id)?.clone();
        let (plan, topology) = self.compile_persistent(&st, &info.id, &info.sql)?;
        match sink {
            None => Ok(topology),
            Some(sink) => compile(&plan, sink, &self.options(&info.id)),
        }
    }
}

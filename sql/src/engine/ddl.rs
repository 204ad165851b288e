//! `CREATE STREAM/TABLE`, `DROP`, `ALTER`: catalog changes and their topics.

use brook_broker::TopicConfig;

use super::{Engine, Session, State, StatementResult, message};
use crate::catalog::ddl::{SourceProperties, source_from_create, validate};
use crate::catalog::{Column, ColumnRole};
use crate::error::{Error, Result};
use crate::parser::{ColumnConstraint, ColumnDef, CreateSource, SourceKind};

fn kind_word(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Stream => "Stream",
        SourceKind::Table => "Table",
    }
}

impl Engine {
    /// Makes sure `topic` exists: with `partitions` it is created if missing (and must match
    /// if present); without, it must exist.
    pub(crate) fn ensure_topic(
        &self,
        st: &State,
        topic: &str,
        partitions: Option<i32>,
        config: Vec<(String, String)>,
        what: &str,
    ) -> Result<i32> {
        match self.cluster.partitions(topic)? {
            Some(count) => {
                if let Some(p) = partitions
                    && p != count
                    && !st.replaying
                {
                    return Err(Error::plan(format!(
                        "topic '{topic}' already exists with {count} partition(s), not the {p} given in PARTITIONS; drop PARTITIONS or use another KAFKA_TOPIC"
                    )));
                }
                Ok(count)
            }
            None => {
                let Some(p) = partitions else {
                    return Err(Error::plan(format!(
                        "topic '{topic}' does not exist; to create it for the {what}, add PARTITIONS to the WITH clause (e.g. PARTITIONS=1)"
                    )));
                };
                // Checked here, so a bad property is the statement's error, whatever the cluster.
                TopicConfig::from_pairs(config.clone())?;
                let config: Vec<(&str, &str)> =
                    config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                Ok(self.cluster.ensure_topic(topic, p, &config)?)
            }
        }
    }

    pub(crate) fn create_source(
        &self,
        st: &mut State,
        c: &CreateSource,
        text: &str,
        session: &Session,
    ) -> Result<StatementResult> {
        if st.catalog.has_source(&c.name) {
            let existing = st.catalog.source(&c.name)?;
            if c.if_not_exists {
                return Ok(message(format!("{} {} already exists", kind_word(existing.kind), c.name)));
            }
            if !c.or_replace {
                return Err(Error::Catalog(format!(
                    "cannot add {} {}: a {} with the same name already exists",
                    kind_word(c.kind).to_lowercase(),
                    c.name,
                    kind_word(existing.kind).to_lowercase()
                )));
            }
            if existing.writer.is_some() {
                return Err(Error::Catalog(format!(
                    "{} is written by query {}; CREATE OR REPLACE cannot turn it into a plain {}",
                    c.name,
                    existing.writer.clone().unwrap_or_default(),
                    kind_word(c.kind).to_lowercase()
                )));
            }
        }
        let (def, props) = source_from_create(&st.catalog, c, text)?;
        self.ensure_topic(
            st,
            &def.topic,
            props.partitions,
            props.topic_config(),
            &kind_word(c.kind).to_lowercase(),
        )?;
        self.log_command(st, text, None, session)?;
        st.materialized.remove(&def.name);
        st.catalog.add_source(def, c.or_replace)?;
        Ok(message(format!("{} created", kind_word(c.kind))))
    }

    pub(crate) fn drop_source(
        &self,
        st: &mut State,
        kind: SourceKind,
        name: &str,
        if_exists: bool,
        delete_topic: bool,
        text: &str,
    ) -> Result<StatementResult> {
        if !st.catalog.has_source(name) {
            if if_exists {
                return Ok(message(format!("Source `{name}` does not exist.")));
            }
            return Err(Error::Catalog(format!("{} {name} does not exist", kind_word(kind).to_lowercase())));
        }
        let def = st.catalog.source(name)?;
        if name == crate::compile::PROCESSING_LOG_STREAM {
            return Err(Error::Catalog(format!("{name} is built in and cannot be dropped")));
        }
        if delete_topic && def.is_source {
            return Err(Error::plan(format!(
                "{name} was created with CREATE SOURCE; its topic cannot be deleted through it"
            )));
        }
        // Other streams and tables over the same topic would lose their data (and queries
        // reading them their input) with it.
        if delete_topic && !st.replaying {
            let sharing: Vec<String> = st
                .catalog
                .sources()
                .filter(|s| s.topic == def.topic && s.name != name)
                .map(|s| s.name.clone())
                .collect();
            if !sharing.is_empty() {
                return Err(Error::Catalog(format!(
                    "cannot delete topic '{}' with {name}: {} also read it; drop them first, or drop {name} without DELETE TOPIC",
                    def.topic,
                    sharing.join(", ")
                )));
            }
        }
        // A CSAS/CTAS sink is dropped together with the query writing it.
        let writer = def.writer.clone().filter(|w| st.catalog.query(w).is_ok());
        if let Some(w) = &writer {
            let readers: Vec<String> = st
                .catalog
                .queries()
                .filter(|q| q.sources.iter().any(|s| s == name))
                .map(|q| q.id.clone())
                .collect();
            if !readers.is_empty() {
                return Err(Error::Catalog(format!(
                    "cannot drop {name}: queries read from it [{}]; TERMINATE them first",
                    readers.join(", ")
                )));
            }
            let other_writers: Vec<String> =
                st.catalog.queries().filter(|q| q.sink == name && q.id != *w).map(|q| q.id.clone()).collect();
            if !other_writers.is_empty() {
                return Err(Error::Catalog(format!(
                    "cannot drop {name}: queries write into it [{}]; TERMINATE them first",
                    other_writers.join(", ")
                )));
            }
        }
        self.log_command(st, text, None, &Session::default())?;
        if let Some(w) = writer {
            st.executor.stop(&w, true)?;
            st.catalog.remove_query(&w)?;
        }
        st.catalog.drop_source(name, kind)?;
        st.materialized.remove(name);
        if delete_topic
            && !st.replaying
            && let Err(e) = self.cluster.delete_topic(&def.topic)
        {
            return Err(Error::Execution(format!(
                "{name} was dropped, but deleting topic {} failed: {e}",
                def.topic
            )));
        }
        Ok(message(format!("Source `{name}` (topic: {}) was dropped.", def.topic)))
    }

    pub(crate) fn alter(
        &self,
        st: &mut State,
        kind: SourceKind,
        name: &str,
        columns: &[ColumnDef],
        text: &str,
        session: &Session,
    ) -> Result<StatementResult> {
        let def = st.catalog.source(name)?;
        if def.kind != kind {
            return Err(Error::Catalog(format!("{name} is not a {}", kind_word(kind).to_lowercase())));
        }
        if def.writer.is_some() {
            return Err(Error::plan(format!(
                "ALTER is not supported for {name}: it is the output of a query (CSAS/CTAS)"
            )));
        }
        let mut new = (*def).clone();
        for c in columns {
            if c.constraint != ColumnConstraint::None {
                return Err(Error::plan(format!(
                    "ALTER can only add value columns; {} is a key or header column",
                    c.name
                )));
            }
            new.columns.push(Column {
                name: c.name.clone(),
                ty: st.catalog.resolve_type(&c.ty)?,
                role: ColumnRole::Value,
            });
        }
        validate(&new)?;
        self.log_command(st, text, None, session)?;
        st.catalog.add_source(new, true)?;
        st.materialized.remove(name);
        Ok(message(format!("{} altered", kind_word(kind))))
    }
}

/// The partitions of a CSAS/CTAS sink: `PARTITIONS`, or those of the first source.
pub(crate) fn sink_partitions(props: &SourceProperties, source_partitions: i32) -> i32 {
    props.partitions.unwrap_or(source_partitions).max(1)
}

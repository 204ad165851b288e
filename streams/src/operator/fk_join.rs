//! Foreign-key table-table join, through two internal topics (Kafka Streams' KIP-213 design,
//! simplified).
//!
//! ```text
//!  left table (K → V) ──fk(V)──► subscription topic keyed by KO ──► right task:
//!                                                                      remembers (KO, K) pairs,
//!  right table (KO → VO) changes ─────────────────────────────────────► answers with VO
//!  left task ◄── response topic keyed by K ◄────────────────────────────────┘
//!     joins the response with the *current* left value (if its fk still points to that KO)
//! ```
//!
//! Subscription message: `op (1 subscribe, 0 unsubscribe) ‖ K bytes`.
//! Response message: `has VO (u8) ‖ KO length (u32) ‖ KO bytes ‖ VO bytes`.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::{decode, encode, key_bytes};
use crate::dsl::Change;
use crate::dsl::node::{Downstream, Processor};
use crate::error::Result;
use crate::record::{OutputRecord, Record};
use crate::serde::SerdeRef;
use crate::state::encoding::{prefix_end, put_prefixed, read_prefixed};
use crate::task::{StoreRef, TaskContext};

fn send(ctx: &mut TaskContext, topic: &str, key: Bytes, value: Bytes, timestamp: i64) {
    ctx.send(OutputRecord {
        topic: topic.to_string(),
        partition: None,
        key: Some(key),
        value: Some(value),
        timestamp,
        headers: Vec::new(),
    });
}

fn response(ko: &[u8], vo: Option<&[u8]>) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + ko.len() + vo.map_or(0, <[u8]>::len));
    b.put_u8(vo.is_some() as u8);
    b.put_u32(ko.len() as u32);
    b.put_slice(ko);
    if let Some(v) = vo {
        b.put_slice(v);
    }
    b.freeze()
}

/// Left side: turns left-table changes into (un)subscriptions, and deletes results of
/// deleted rows.
pub struct FkLeftChanges<K, V, KO, VR> {
    /// Operator name.
    pub name: String,
    /// Subscription topic.
    pub subscription_topic: String,
    /// Left key serde.
    pub key_serde: SerdeRef<K>,
    /// Foreign-key serde.
    pub fk_serde: SerdeRef<KO>,
    /// Extracts the foreign key.
    pub fk: Arc<dyn Fn(&V) -> KO + Send + Sync>,
    /// Join results by left key.
    pub results: StoreRef,
    /// Result serde.
    pub result_serde: SerdeRef<VR>,
    /// Output.
    pub down: Downstream<K, Change<VR>>,
}

impl<K: Clone + 'static, V: 'static, KO: 'static, VR: Clone + 'static> Processor<K, Change<V>>
    for FkLeftChanges<K, V, KO, VR>
{
    fn process(&mut self, r: Record<K, Change<V>>, ctx: &mut TaskContext) -> Result<()> {
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let fk_bytes = |v: &Option<V>, ctx: &mut TaskContext| -> Option<Bytes> {
            let v = v.as_ref()?;
            key_bytes(&self.fk_serde, &(self.fk)(v), ctx, &self.name)
        };
        let new_fk = fk_bytes(&r.value.new, ctx);
        let old_fk = fk_bytes(&r.value.old, ctx);
        if let Some(old) = &old_fk
            && new_fk.as_ref() != Some(old)
        {
            let mut v = BytesMut::with_capacity(1 + kb.len());
            v.put_u8(0);
            v.put_slice(&kb);
            send(ctx, &self.subscription_topic, old.clone(), v.freeze(), r.timestamp);
        }
        if let Some(new) = new_fk {
            let mut v = BytesMut::with_capacity(1 + kb.len());
            v.put_u8(1);
            v.put_slice(&kb);
            send(ctx, &self.subscription_topic, new, v.freeze(), r.timestamp);
        }
        if r.value.new.is_none() {
            let stored = self.results.borrow_mut().get(&kb)?;
            if let Some(old) = decode(&self.result_serde, stored, ctx, &self.name) {
                self.results.borrow_mut().delete(&kb)?;
                let rec = Record {
                    key: r.key,
                    value: Change { new: None, old: Some(old) },
                    timestamp: r.timestamp,
                    headers: r.headers,
                };
                self.down.borrow_mut().process(rec, ctx)?;
            }
        }
        Ok(())
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.results.borrow_mut().flush()?;
        self.down.borrow_mut().flush(ctx)
    }
}

/// Left side: joins responses with the current left row.
pub struct FkResponses<K, V, KO, VO, VR> {
    /// Operator name.
    pub name: String,
    /// Left key serde.
    pub key_serde: SerdeRef<K>,
    /// Left value serde.
    pub value_serde: SerdeRef<V>,
    /// Foreign-key serde.
    pub fk_serde: SerdeRef<KO>,
    /// Right value serde.
    pub right_serde: SerdeRef<VO>,
    /// Extracts the foreign key.
    pub fk: Arc<dyn Fn(&V) -> KO + Send + Sync>,
    /// `(left, right) → result`.
    pub joiner: super::ValueJoiner<V, VO, VR>,
    /// The left table's store.
    pub left: StoreRef,
    /// Join results by left key.
    pub results: StoreRef,
    /// Result serde.
    pub result_serde: SerdeRef<VR>,
    /// Output.
    pub down: Downstream<K, Change<VR>>,
}

impl<K: Clone + 'static, V: 'static, KO: 'static, VO: 'static, VR: Clone + 'static> Processor<Bytes, Bytes>
    for FkResponses<K, V, KO, VO, VR>
{
    fn process(&mut self, r: Record<Bytes, Bytes>, ctx: &mut TaskContext) -> Result<()> {
        let kb = r.key;
        let msg = r.value;
        if msg.len() < 5 {
            ctx.skip(&self.name, "truncated foreign-key response");
            return Ok(());
        }
        let has = msg[0] == 1;
        let Some((ko, vo)) = read_prefixed(&msg[1..]) else {
            ctx.skip(&self.name, "malformed foreign-key response");
            return Ok(());
        };
        let stored = self.left.borrow_mut().get(&kb)?;
        let Some(lv) = decode(&self.value_serde, stored, ctx, &self.name) else { return Ok(()) };
        let current_fk = key_bytes(&self.fk_serde, &(self.fk)(&lv), ctx, &self.name);
        if current_fk.as_deref() != Some(ko) {
            return Ok(()); // the left row moved to another foreign key since
        }
        let Ok(key) = self.key_serde.deserialize(Some(&kb)) else { return Ok(()) };
        let right = if has {
            decode(&self.right_serde, Some(Bytes::copy_from_slice(vo)), ctx, &self.name)
        } else {
            None
        };
        let result = (self.joiner)(&lv, right.as_ref());
        let stored = self.results.borrow_mut().get(&kb)?;
        let old = decode(&self.result_serde, stored, ctx, &self.name);
        match &result {
            Some(v) => {
                let Some(b) = encode(&self.result_serde, v, ctx, &self.name) else { return Ok(()) };
                self.results.borrow_mut().put(&kb, &b)?;
            }
            None => {
                if old.is_none() {
                    return Ok(());
                }
                self.results.borrow_mut().delete(&kb)?;
            }
        }
        let rec =
            Record { key, value: Change { new: result, old }, timestamp: r.timestamp, headers: Vec::new() };
        self.down.borrow_mut().process(rec, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().flush(ctx)
    }
}

/// Right side: records subscriptions and answers them with the current right row.
pub struct FkSubscriptions {
    /// Operator name.
    pub name: String,
    /// Response topic.
    pub response_topic: String,
    /// `len ‖ KO ‖ K → ()`.
    pub subscriptions: StoreRef,
    /// The right table's store.
    pub right: StoreRef,
}

impl Processor<Bytes, Bytes> for FkSubscriptions {
    fn process(&mut self, r: Record<Bytes, Bytes>, ctx: &mut TaskContext) -> Result<()> {
        let ko = r.key;
        let Some((&op, kb)) = r.value.split_first() else {
            ctx.skip(&self.name, "empty subscription message");
            return Ok(());
        };
        let mut sk = Vec::with_capacity(ko.len() + kb.len() + 4);
        put_prefixed(&mut sk, &ko);
        sk.extend_from_slice(kb);
        if op == 0 {
            self.subscriptions.borrow_mut().delete(&sk)?;
            return Ok(());
        }
        self.subscriptions.borrow_mut().put(&sk, &[])?;
        let vo = self.right.borrow_mut().get(&ko)?;
        send(
            ctx,
            &self.response_topic,
            Bytes::copy_from_slice(kb),
            response(&ko, vo.as_deref()),
            r.timestamp,
        );
        Ok(())
    }
    fn advance(&mut self, _: i64, _: &mut TaskContext) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self, _: &mut TaskContext) -> Result<()> {
        self.subscriptions.borrow_mut().flush()
    }
}

/// Right side: pushes right-table changes to every subscribed left key.
pub struct FkRightChanges<KO, VO> {
    /// Operator name.
    pub name: String,
    /// Response topic.
    pub response_topic: String,
    /// Foreign-key serde.
    pub fk_serde: SerdeRef<KO>,
    /// Right value serde.
    pub right_serde: SerdeRef<VO>,
    /// `len ‖ KO ‖ K → ()`.
    pub subscriptions: StoreRef,
}

impl<KO: 'static, VO: 'static> Processor<KO, Change<VO>> for FkRightChanges<KO, VO> {
    fn process(&mut self, r: Record<KO, Change<VO>>, ctx: &mut TaskContext) -> Result<()> {
        let Some(ko) = key_bytes(&self.fk_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let vo = match &r.value.new {
            Some(v) => match encode(&self.right_serde, v, ctx, &self.name) {
                Some(b) => Some(b),
                None => return Ok(()),
            },
            None => None,
        };
        let mut prefix = Vec::with_capacity(ko.len() + 4);
        put_prefixed(&mut prefix, &ko);
        let end = prefix_end(&prefix);
        let mut keys = Vec::new();
        self.subscriptions.borrow_mut().scan(&prefix, end.as_deref(), &mut |k, _| {
            keys.push(Bytes::copy_from_slice(&k[prefix.len()..]));
            true
        })?;
        for kb in keys {
            send(ctx, &self.response_topic, kb, response(&ko, vo.as_deref()), r.timestamp);
        }
        Ok(())
    }
    fn advance(&mut self, _: i64, _: &mut TaskContext) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self, _: &mut TaskContext) -> Result<()> {
        Ok(())
    }
}

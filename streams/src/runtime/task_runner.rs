//! A task as the runtime runs it: the processors plus per-source input buffers, positions, and
//! the rule that interleaves several sources by timestamp.

use std::collections::VecDeque;

use crate::error::Result;
use crate::record::InputRecord;
use crate::task::{RecordMeta, TaskContext, TaskId};
use crate::topology::TaskProcessor;

/// A live task.
pub struct RunningTask {
    /// Task id.
    pub id: TaskId,
    /// Source topics (same order as the sub-topology's).
    pub sources: Vec<String>,
    /// Next offset to fetch, per source.
    pub positions: Vec<i64>,
    /// Offset after the last processed record, per source (what gets committed).
    pub processed: Vec<i64>,
    /// Fetched but unprocessed records, per source.
    pub buffers: Vec<VecDeque<InputRecord>>,
    /// Whether the last fetch of a source found nothing new.
    pub caught_up: Vec<bool>,
    processor: Box<dyn TaskProcessor>,
    /// The processors' context.
    pub ctx: TaskContext,
}

impl RunningTask {
    /// Wraps built processors; `positions` are the starting offsets.
    pub fn new(
        id: TaskId,
        sources: Vec<String>,
        positions: Vec<i64>,
        processor: Box<dyn TaskProcessor>,
    ) -> Self {
        let n = sources.len();
        RunningTask {
            id,
            sources,
            processed: positions.clone(),
            positions,
            buffers: (0..n).map(|_| VecDeque::new()).collect(),
            caught_up: vec![false; n],
            processor,
            ctx: TaskContext::new(id),
        }
    }

    /// Processes buffered records. With several sources, a source's records are processed
    /// only up to the smallest head timestamp of the other sources, and only while every
    /// source either has buffered records or is caught up — so joins see inputs in time order.
    /// Returns the number of records processed.
    pub fn process_buffered(&mut self, now_ms: i64) -> Result<usize> {
        self.ctx.set_wall_clock(now_ms);
        let mut total = 0;
        loop {
            let ready = self.buffers.iter().zip(&self.caught_up).all(|(b, c)| !b.is_empty() || *c);
            if !ready {
                break;
            }
            let Some((src, _)) = self
                .buffers
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.front().map(|r| (i, r.timestamp)))
                .min_by_key(|&(i, ts)| (ts, i))
            else {
                break;
            };
            let limit = self
                .buffers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != src)
                .filter_map(|(_, b)| b.front().map(|r| r.timestamp))
                .min()
                .unwrap_or(i64::MAX);
            let buf = &mut self.buffers[src];
            let mut n = 0;
            while n < buf.len() && buf[n].timestamp <= limit {
                n += 1;
            }
            let n = n.max(1);
            let run: Vec<InputRecord> = buf.drain(..n).collect();
            let last = &run[run.len() - 1];
            self.ctx.current = RecordMeta {
                topic: last.topic.clone(),
                partition: last.partition,
                offset: last.offset,
                timestamp: last.timestamp,
            };
            self.ctx.metrics.records_in += run.len() as u64;
            self.processor.process(src, &run, &mut self.ctx)?;
            let max_ts = run.iter().map(|r| r.timestamp).max().unwrap_or(i64::MIN);
            self.ctx.observe_time(max_ts);
            self.processed[src] = last.offset + 1;
            total += run.len();
        }
        if total > 0 {
            let st = self.ctx.stream_time();
            self.processor.advance(st, &mut self.ctx)?;
        }
        Ok(total)
    }

    /// Flushes the processors' state.
    pub fn flush(&mut self) -> Result<()> {
        self.processor.flush(&mut self.ctx)
    }
}

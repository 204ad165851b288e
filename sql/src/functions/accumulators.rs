//! Columnar accumulators: the state of one aggregate function for many groups ("slots").
//!
//! An aggregation operator maps each group (and window) to a slot and calls
//! [`GroupsAccumulator::update`] once per batch with the argument column and the slot of every
//! row, so the inner loops run over plain vectors. Per-slot state can be saved to bytes (for
//! the state store) and loaded back, and two slots can be merged (session windows).
//!
//! Aggregating a TABLE also takes values back out of a slot ([`GroupsAccumulator::retract`]):
//! COUNT, SUM and AVG subtract, and COUNT_DISTINCT keeps how many rows hold each value.
//!
//! Values that are not plain numbers (MIN/MAX of strings, TOPK, COLLECT_LIST, …) are kept in
//! arrow-row encoding: comparing the bytes compares the values, and converting them back
//! yields an Arrow array of the original type.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray, PrimitiveArray, new_null_array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Decimal128Type, Field, Float64Type, Int64Type,
};
use datafusion::arrow::row::{RowConverter, Rows, SortField};

use super::{AggFunc, AggKind, COLLECT_LIMIT};
use crate::error::{Error, Result};

/// The state of one aggregate for many groups.
pub trait GroupsAccumulator: Send {
    /// Makes slots `0..n` exist (new slots hold the initial state).
    fn resize(&mut self, n: usize);
    /// Folds `values[rows[i]]` into slot `slots[i]`, for every `i`, in order.
    fn update(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()>;
    /// Takes `values[rows[i]]` back out of slot `slots[i]`, for every `i` (the values were
    /// folded in before). Only accumulators of [`AggKind::undoable`] functions implement it.
    fn retract(&mut self, _values: &ArrayRef, _rows: &[u32], _slots: &[u32]) -> Result<()> {
        Err(Error::Internal("this aggregate function cannot take values back out".into()))
    }
    /// Merges slot `from` into slot `into` (`from`'s values count as the later ones).
    fn merge(&mut self, into: usize, from: usize);
    /// Returns a slot to the initial state.
    fn reset(&mut self, slot: usize);
    /// Appends a slot's state to `out`.
    fn save(&self, slot: usize, out: &mut Vec<u8>);
    /// Replaces a slot's state with saved bytes.
    fn load(&mut self, slot: usize, bytes: &[u8]) -> std::result::Result<(), String>;
    /// The results of `slots`, in order.
    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef>;
}

/// Appends the state of `slot` of every accumulator, each framed by its length (u32 LE).
pub fn save_all(accs: &[Box<dyn GroupsAccumulator>], slot: usize, out: &mut Vec<u8>) {
    for a in accs {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        a.save(slot, out);
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
}

/// Loads what [`save_all`] wrote (from `bytes`) into `slot` of every accumulator.
pub fn load_all(
    accs: &mut [Box<dyn GroupsAccumulator>],
    slot: usize,
    bytes: &[u8],
) -> std::result::Result<(), String> {
    let mut pos = 0;
    for a in accs {
        let len = bytes.get(pos..pos + 4).ok_or("truncated aggregate state")?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| "truncated aggregate state")?) as usize;
        a.load(slot, bytes.get(pos + 4..pos + 4 + len).ok_or("truncated aggregate state")?)?;
        pos += 4 + len;
    }
    Ok(())
}

/// Creates the accumulator of a planned aggregate.
pub fn create(f: &AggFunc) -> Result<Box<dyn GroupsAccumulator>> {
    Ok(match (f.kind, &f.input) {
        (AggKind::Count, _) => Box::new(Count::default()),
        (AggKind::Sum, DataType::Int64) => Box::new(Sum::<Int64Type>::new(DataType::Int64)),
        (AggKind::Sum, DataType::Float64) => Box::new(Sum::<Float64Type>::new(DataType::Float64)),
        (AggKind::Sum, t @ DataType::Decimal128(..)) => Box::new(Sum::<Decimal128Type>::new(t.clone())),
        (AggKind::Avg, _) => Box::new(Avg::default()),
        (AggKind::CountDistinct, t) if f.undo => Box::new(DistinctCounts::new(t)?),
        (AggKind::Sum, t) => return Err(Error::Internal(format!("SUM over {t}"))),
        (kind, t) => Box::new(Values::new(kind, f.n, t.clone())?),
    })
}

fn read_u64(b: &[u8], at: usize) -> std::result::Result<u64, String> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| "truncated aggregate state".to_string())
}

#[derive(Default)]
struct Count {
    counts: Vec<i64>,
}

impl GroupsAccumulator for Count {
    fn resize(&mut self, n: usize) {
        self.counts.resize(n, 0);
    }
    fn update(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        if values.null_count() == 0 {
            for &s in slots {
                self.counts[s as usize] += 1;
            }
        } else {
            for (&r, &s) in rows.iter().zip(slots) {
                if values.is_valid(r as usize) {
                    self.counts[s as usize] += 1;
                }
            }
        }
        Ok(())
    }
    fn retract(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        for (&r, &s) in rows.iter().zip(slots) {
            if values.is_valid(r as usize) {
                self.counts[s as usize] -= 1;
            }
        }
        Ok(())
    }
    fn merge(&mut self, into: usize, from: usize) {
        self.counts[into] += self.counts[from];
    }
    fn reset(&mut self, slot: usize) {
        self.counts[slot] = 0;
    }
    fn save(&self, slot: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.counts[slot].to_le_bytes());
    }
    fn load(&mut self, slot: usize, bytes: &[u8]) -> std::result::Result<(), String> {
        self.counts[slot] = read_u64(bytes, 0)? as i64;
        Ok(())
    }
    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(slots.iter().map(|&s| self.counts[s as usize]))))
    }
}

/// A number SUM adds up: integers wrap around on overflow (as Java's long arithmetic in
/// ksqlDB), doubles do not.
trait Summable: Copy + Default + Send + 'static {
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn save(self, out: &mut Vec<u8>);
    fn load(bytes: &[u8]) -> std::result::Result<Self, String>;
}

impl Summable for i64 {
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    fn sub(self, o: Self) -> Self {
        self.wrapping_sub(o)
    }
    fn save(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn load(bytes: &[u8]) -> std::result::Result<Self, String> {
        Ok(read_u64(bytes, 0)? as i64)
    }
}

impl Summable for f64 {
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn save(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn load(bytes: &[u8]) -> std::result::Result<Self, String> {
        Ok(f64::from_bits(read_u64(bytes, 0)?))
    }
}

impl Summable for i128 {
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    fn sub(self, o: Self) -> Self {
        self.wrapping_sub(o)
    }
    fn save(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn load(bytes: &[u8]) -> std::result::Result<Self, String> {
        let b: [u8; 16] =
            bytes.get(..16).and_then(|s| s.try_into().ok()).ok_or("truncated aggregate state")?;
        Ok(i128::from_le_bytes(b))
    }
}

/// SUM over a primitive column (BIGINT, DOUBLE, DECIMAL); the result has `data_type`
/// (a decimal keeps its precision and scale).
struct Sum<T: ArrowPrimitiveType> {
    sums: Vec<T::Native>,
    data_type: DataType,
}

impl<T: ArrowPrimitiveType> Sum<T> {
    fn new(data_type: DataType) -> Self {
        Sum { sums: Vec::new(), data_type }
    }

    fn apply(
        &mut self,
        values: &ArrayRef,
        rows: &[u32],
        slots: &[u32],
        f: fn(T::Native, T::Native) -> T::Native,
    ) {
        let v = values.as_primitive::<T>();
        for (&r, &s) in rows.iter().zip(slots) {
            if v.is_valid(r as usize) {
                let acc = &mut self.sums[s as usize];
                *acc = f(*acc, v.value(r as usize));
            }
        }
    }
}

impl<T: ArrowPrimitiveType> GroupsAccumulator for Sum<T>
where
    T::Native: Summable,
{
    fn resize(&mut self, n: usize) {
        self.sums.resize(n, T::Native::default());
    }
    fn update(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        self.apply(values, rows, slots, Summable::add);
        Ok(())
    }
    fn retract(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        self.apply(values, rows, slots, Summable::sub);
        Ok(())
    }
    fn merge(&mut self, into: usize, from: usize) {
        self.sums[into] = self.sums[into].add(self.sums[from]);
    }
    fn reset(&mut self, slot: usize) {
        self.sums[slot] = T::Native::default();
    }
    fn save(&self, slot: usize, out: &mut Vec<u8>) {
        self.sums[slot].save(out);
    }
    fn load(&mut self, slot: usize, bytes: &[u8]) -> std::result::Result<(), String> {
        self.sums[slot] = T::Native::load(bytes)?;
        Ok(())
    }
    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef> {
        let a = PrimitiveArray::<T>::from_iter_values(slots.iter().map(|&s| self.sums[s as usize]))
            .with_data_type(self.data_type.clone());
        Ok(Arc::new(a))
    }
}

#[derive(Default)]
struct Avg {
    sums: Vec<f64>,
    counts: Vec<i64>,
}

impl GroupsAccumulator for Avg {
    fn resize(&mut self, n: usize) {
        self.sums.resize(n, 0.0);
        self.counts.resize(n, 0);
    }
    fn update(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        let v = values.as_primitive::<Float64Type>();
        for (&r, &s) in rows.iter().zip(slots) {
            if v.is_valid(r as usize) {
                self.sums[s as usize] += v.value(r as usize);
                self.counts[s as usize] += 1;
            }
        }
        Ok(())
    }
    fn retract(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        let v = values.as_primitive::<Float64Type>();
        for (&r, &s) in rows.iter().zip(slots) {
            if v.is_valid(r as usize) {
                self.sums[s as usize] -= v.value(r as usize);
                self.counts[s as usize] -= 1;
            }
        }
        Ok(())
    }
    fn merge(&mut self, into: usize, from: usize) {
        self.sums[into] += self.sums[from];
        self.counts[into] += self.counts[from];
    }
    fn reset(&mut self, slot: usize) {
        self.sums[slot] = 0.0;
        self.counts[slot] = 0;
    }
    fn save(&self, slot: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sums[slot].to_le_bytes());
        out.extend_from_slice(&self.counts[slot].to_le_bytes());
    }
    fn load(&mut self, slot: usize, bytes: &[u8]) -> std::result::Result<(), String> {
        self.sums[slot] = f64::from_bits(read_u64(bytes, 0)?);
        self.counts[slot] = read_u64(bytes, 8)? as i64;
        Ok(())
    }
    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Float64Array::from_iter(slots.iter().map(|&s| {
            let (sum, n) = (self.sums[s as usize], self.counts[s as usize]);
            (n > 0).then(|| sum / n as f64)
        }))))
    }
}

/// `COUNT_DISTINCT` over a TABLE: how many rows of the group hold each (arrow-row encoded)
/// value, so that a value leaves the count when its last row does.
struct DistinctCounts {
    converter: RowConverter,
    slots: Vec<std::collections::HashMap<Vec<u8>, u64>>,
}

impl DistinctCounts {
    fn new(data_type: &DataType) -> Result<Self> {
        let converter = RowConverter::new(vec![SortField::new(data_type.clone())])?;
        Ok(DistinctCounts { converter, slots: Vec::new() })
    }

    fn apply(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32], add: bool) -> Result<()> {
        let encoded: Rows = self.converter.convert_columns(std::slice::from_ref(values))?;
        for (&r, &s) in rows.iter().zip(slots) {
            if values.is_null(r as usize) {
                continue;
            }
            let v = encoded.row(r as usize);
            let counts = &mut self.slots[s as usize];
            if add {
                *counts.entry(v.as_ref().to_vec()).or_insert(0) += 1;
            } else if let Some(n) = counts.get_mut(v.as_ref()) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(v.as_ref());
                }
            }
        }
        Ok(())
    }
}

impl GroupsAccumulator for DistinctCounts {
    fn resize(&mut self, n: usize) {
        self.slots.resize_with(n, Default::default);
    }
    fn update(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        self.apply(values, rows, slots, true)
    }
    fn retract(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        self.apply(values, rows, slots, false)
    }
    fn merge(&mut self, into: usize, from: usize) {
        let from: Vec<(Vec<u8>, u64)> = self.slots[from].iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (k, n) in from {
            *self.slots[into].entry(k).or_insert(0) += n;
        }
    }
    fn reset(&mut self, slot: usize) {
        self.slots[slot].clear();
    }
    fn save(&self, slot: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.slots[slot].len() as u32).to_le_bytes());
        for (v, n) in &self.slots[slot] {
            put_bytes(out, v);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    fn load(&mut self, slot: usize, bytes: &[u8]) -> std::result::Result<(), String> {
        self.reset(slot);
        let truncated = || "truncated state".to_string();
        let count =
            bytes.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).ok_or_else(truncated)?;
        let mut pos = 4;
        for _ in 0..count {
            let len = bytes
                .get(pos..pos + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or_else(truncated)? as usize;
            let v = bytes.get(pos + 4..pos + 4 + len).ok_or_else(truncated)?.to_vec();
            let n = read_u64(bytes, pos + 4 + len)?;
            pos += 4 + len + 8;
            self.slots[slot].insert(v, n);
        }
        Ok(())
    }
    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(slots.iter().map(|&s| self.slots[s as usize].len() as i64))))
    }
}

/// Aggregates over arbitrary values, kept in arrow-row encoding.
struct Values {
    kind: AggKind,
    /// Most values kept (1 for MIN/MAX and single LATEST/EARLIEST).
    n: usize,
    list_output: bool,
    data_type: DataType,
    converter: RowConverter,
    null_row: Vec<u8>,
    slots: Vec<VecDeque<Vec<u8>>>,
    /// COUNT_DISTINCT / COLLECT_SET membership.
    sets: Vec<HashSet<Vec<u8>>>,
}

impl Values {
    fn new(kind: AggKind, n: Option<usize>, data_type: DataType) -> Result<Self> {
        let converter = RowConverter::new(vec![SortField::new(data_type.clone())])?;
        let null_row = converter.convert_columns(&[new_null_array(&data_type, 1)])?.row(0).as_ref().to_vec();
        let (cap, list_output) = match kind {
            AggKind::Min | AggKind::Max => (1, false),
            AggKind::LatestByOffset | AggKind::EarliestByOffset => (n.unwrap_or(1), n.is_some()),
            AggKind::TopK => (n.unwrap_or(1), true),
            AggKind::CollectList | AggKind::CollectSet => (COLLECT_LIMIT, true),
            AggKind::CountDistinct => (usize::MAX, false),
            _ => return Err(Error::Internal(format!("{kind:?} is not a value aggregate"))),
        };
        Ok(Values {
            kind,
            n: cap,
            list_output,
            data_type,
            converter,
            null_row,
            slots: Vec::new(),
            sets: Vec::new(),
        })
    }

    fn uses_set(&self) -> bool {
        matches!(self.kind, AggKind::CountDistinct | AggKind::CollectSet)
    }

    fn add(&mut self, slot: usize, v: &[u8]) {
        let n = self.n;
        match self.kind {
            AggKind::Min | AggKind::Max => {
                let list = &mut self.slots[slot];
                let better = match list.front() {
                    None => true,
                    Some(cur) => (self.kind == AggKind::Max) == (v > cur.as_slice()) && v != cur.as_slice(),
                };
                if better {
                    list.clear();
                    list.push_back(v.to_vec());
                }
            }
            AggKind::LatestByOffset => {
                let list = &mut self.slots[slot];
                list.push_back(v.to_vec());
                while list.len() > n {
                    list.pop_front();
                }
            }
            AggKind::EarliestByOffset | AggKind::CollectList => {
                let list = &mut self.slots[slot];
                if list.len() < n {
                    list.push_back(v.to_vec());
                }
            }
            AggKind::TopK => {
                let list = &mut self.slots[slot];
                // Descending order: find the first element smaller than v.
                let pos = list.iter().position(|x| x.as_slice() < v).unwrap_or(list.len());
                if pos < n {
                    list.insert(pos, v.to_vec());
                    list.truncate(n);
                }
            }
            AggKind::CountDistinct if !self.sets[slot].contains(v) => {
                self.sets[slot].insert(v.to_vec());
            }
            AggKind::CollectSet if self.sets[slot].len() < n && !self.sets[slot].contains(v) => {
                self.sets[slot].insert(v.to_vec());
                self.slots[slot].push_back(v.to_vec());
            }
            _ => {}
        }
    }

    fn ignores_nulls(&self) -> bool {
        !matches!(self.kind, AggKind::CollectList)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

impl GroupsAccumulator for Values {
    fn resize(&mut self, n: usize) {
        self.slots.resize_with(n, VecDeque::new);
        if self.uses_set() {
            self.sets.resize_with(n, HashSet::new);
        }
    }

    fn update(&mut self, values: &ArrayRef, rows: &[u32], slots: &[u32]) -> Result<()> {
        let encoded: Rows = self.converter.convert_columns(std::slice::from_ref(values))?;
        let skip_nulls = self.ignores_nulls();
        for (&r, &s) in rows.iter().zip(slots) {
            if skip_nulls && values.is_null(r as usize) {
                continue;
            }
            let row = encoded.row(r as usize);
            self.add(s as usize, row.as_ref());
        }
        Ok(())
    }

    fn merge(&mut self, into: usize, from: usize) {
        let items: Vec<Vec<u8>> = self.slots[from].iter().cloned().collect();
        let extra: Vec<Vec<u8>> = if self.kind == AggKind::CountDistinct {
            self.sets[from].iter().cloned().collect()
        } else {
            Vec::new()
        };
        for v in items.iter().chain(&extra) {
            self.add(into, v);
        }
    }

    fn reset(&mut self, slot: usize) {
        self.slots[slot].clear();
        if self.uses_set() {
            self.sets[slot].clear();
        }
    }

    fn save(&self, slot: usize, out: &mut Vec<u8>) {
        let items: Vec<&Vec<u8>> = if self.kind == AggKind::CountDistinct {
            self.sets[slot].iter().collect()
        } else {
            self.slots[slot].iter().collect()
        };
        out.extend_from_slice(&(items.len() as u32).to_le_bytes());
        for v in items {
            put_bytes(out, v);
        }
    }

    fn load(&mut self, slot: usize, bytes: &[u8]) -> std::result::Result<(), String> {
        self.reset(slot);
        let count = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or("truncated state")?;
        let mut pos = 4;
        for _ in 0..count {
            let len = bytes
                .get(pos..pos + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or("truncated state")? as usize;
            let v = bytes.get(pos + 4..pos + 4 + len).ok_or("truncated state")?.to_vec();
            pos += 4 + len;
            match self.kind {
                AggKind::CountDistinct => {
                    self.sets[slot].insert(v);
                }
                AggKind::CollectSet => {
                    self.sets[slot].insert(v.clone());
                    self.slots[slot].push_back(v);
                }
                _ => self.slots[slot].push_back(v),
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef> {
        if self.kind == AggKind::CountDistinct {
            return Ok(Arc::new(Int64Array::from_iter_values(
                slots.iter().map(|&s| self.sets[s as usize].len() as i64),
            )));
        }
        let parser = self.converter.parser();
        if !self.list_output {
            let rows: Vec<&[u8]> = slots
                .iter()
                .map(|&s| self.slots[s as usize].front().map(|v| v.as_slice()).unwrap_or(&self.null_row))
                .collect();
            let mut out = self.converter.convert_rows(rows.iter().map(|b| parser.parse(b)))?;
            return out.pop().ok_or_else(|| Error::Internal("no column converted".into()));
        }
        let mut offsets = Vec::with_capacity(slots.len() + 1);
        offsets.push(0i32);
        let mut flat: Vec<&[u8]> = Vec::new();
        for &s in slots {
            flat.extend(self.slots[s as usize].iter().map(|v| v.as_slice()));
            offsets.push(flat.len() as i32);
        }
        let values = if flat.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.data_type)
        } else {
            self.converter
                .convert_rows(flat.iter().map(|b| parser.parse(b)))?
                .pop()
                .ok_or_else(|| Error::Internal("no column converted".into()))?
        };
        let field = Arc::new(Field::new("item", self.data_type.clone(), true));
        Ok(Arc::new(ListArray::try_new(field, OffsetBuffer::new(offsets.into()), values, None)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    fn func(kind: AggKind, n: Option<usize>, input: DataType) -> AggFunc {
        let output = DataType::Null;
        AggFunc { kind, n, input, output, display: String::new(), undo: false }
    }

    #[test]
    fn count_sum_and_save_load() {
        let mut c = create(&func(AggKind::Sum, None, DataType::Int64)).unwrap();
        c.resize(2);
        let v: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(5), Some(7)]));
        c.update(&v, &[0, 1, 2, 3], &[0, 0, 1, 0]).unwrap();
        let mut bytes = Vec::new();
        c.save(0, &mut bytes);
        c.resize(3);
        c.load(2, &bytes).unwrap();
        let out = c.evaluate(&[0, 1, 2]).unwrap();
        assert_eq!(out.as_primitive::<Int64Type>().values().to_vec(), vec![8, 5, 8]);
    }

    #[test]
    fn sum_of_doubles_and_decimals_keeps_type_and_survives_save_load() {
        let dec_type = DataType::Decimal128(10, 2);
        let decimals: ArrayRef = Arc::new(
            datafusion::arrow::array::Decimal128Array::from(vec![Some(150), None, Some(225)])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        let doubles: ArrayRef =
            Arc::new(datafusion::arrow::array::Float64Array::from(vec![Some(1.5), None, Some(2.25)]));
        for (values, t) in [(decimals, dec_type.clone()), (doubles, DataType::Float64)] {
            let mut sum = create(&func(AggKind::Sum, None, t.clone())).unwrap();
            sum.resize(2);
            sum.update(&values, &[0, 1, 2], &[0, 0, 0]).unwrap();
            sum.retract(&values, &[0], &[0]).unwrap();
            let mut bytes = Vec::new();
            sum.save(0, &mut bytes);
            sum.load(1, &bytes).unwrap();
            let out = sum.evaluate(&[0, 1]).unwrap();
            assert_eq!(out.data_type(), &t);
            assert!(out.is_valid(1));
            match t {
                DataType::Float64 => {
                    assert_eq!(out.as_primitive::<Float64Type>().values().to_vec(), vec![2.25; 2])
                }
                _ => assert_eq!(out.as_primitive::<Decimal128Type>().values().to_vec(), vec![225; 2]),
            }
        }
    }

    #[test]
    fn undoable_accumulators_take_values_back_out() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(4), Some(3)]));
        let floats: ArrayRef = Arc::new(datafusion::arrow::array::Float64Array::from(vec![
            Some(1.5),
            None,
            Some(2.5),
            Some(4.0),
        ]));
        let rows = [0, 1, 2, 3];
        let slots = [0, 0, 0, 0];
        let mut sum = create(&func(AggKind::Sum, None, DataType::Int64)).unwrap();
        let mut count = create(&func(AggKind::Count, None, DataType::Int64)).unwrap();
        let mut avg = create(&func(AggKind::Avg, None, DataType::Float64)).unwrap();
        let mut distinct_func = func(AggKind::CountDistinct, None, DataType::Int64);
        distinct_func.undo = true;
        let mut distinct = create(&distinct_func).unwrap();
        for a in [&mut sum, &mut count, &mut avg, &mut distinct] {
            a.resize(1);
        }
        sum.update(&ints, &rows, &slots).unwrap();
        count.update(&ints, &rows, &slots).unwrap();
        avg.update(&floats, &rows, &slots).unwrap();
        distinct.update(&ints, &rows, &slots).unwrap();
        // Take back rows 0 and 2: one of the two 3s stays.
        sum.retract(&ints, &[0, 2], &[0, 0]).unwrap();
        count.retract(&ints, &[0, 2], &[0, 0]).unwrap();
        avg.retract(&floats, &[0, 2], &[0, 0]).unwrap();
        distinct.retract(&ints, &[0, 2], &[0, 0]).unwrap();
        assert_eq!(sum.evaluate(&[0]).unwrap().as_primitive::<Int64Type>().value(0), 3);
        assert_eq!(count.evaluate(&[0]).unwrap().as_primitive::<Int64Type>().value(0), 1);
        assert_eq!(avg.evaluate(&[0]).unwrap().as_primitive::<Float64Type>().value(0), 4.0);
        assert_eq!(distinct.evaluate(&[0]).unwrap().as_primitive::<Int64Type>().value(0), 1);
        // The distinct counts survive a save and load.
        let mut bytes = Vec::new();
        distinct.save(0, &mut bytes);
        distinct.resize(2);
        distinct.load(1, &bytes).unwrap();
        distinct.retract(&ints, &[3], &[1]).unwrap();
        assert_eq!(
            distinct.evaluate(&[0, 1]).unwrap().as_primitive::<Int64Type>().values().to_vec(),
            vec![1, 0]
        );
        // Functions that cannot undo say so.
        let mut min = create(&func(AggKind::Min, None, DataType::Int64)).unwrap();
        min.resize(1);
        assert!(min.retract(&ints, &[0], &[0]).is_err());
    }

    #[test]
    fn topk_latest_min_on_strings() {
        let v: ArrayRef = Arc::new(StringArray::from(vec![Some("b"), Some("d"), None, Some("a"), Some("c")]));
        let rows = [0, 1, 2, 3, 4];
        let slots = [0, 0, 0, 0, 0];
        let mut top = create(&func(AggKind::TopK, Some(2), DataType::Utf8)).unwrap();
        top.resize(1);
        top.update(&v, &rows, &slots).unwrap();
        let out = top.evaluate(&[0]).unwrap();
        let list = out.as_list::<i32>().value(0);
        assert_eq!(list.as_string::<i32>().iter().flatten().collect::<Vec<_>>(), vec!["d", "c"]);
        let mut latest = create(&func(AggKind::LatestByOffset, None, DataType::Utf8)).unwrap();
        latest.resize(1);
        latest.update(&v, &rows, &slots).unwrap();
        assert_eq!(latest.evaluate(&[0]).unwrap().as_string::<i32>().value(0), "c");
        let mut min = create(&func(AggKind::Min, None, DataType::Utf8)).unwrap();
        min.resize(2);
        min.update(&v, &rows, &slots).unwrap();
        let m = min.evaluate(&[0, 1]).unwrap();
        assert_eq!(m.as_string::<i32>().value(0), "a");
        assert!(m.is_null(1));
        let mut distinct = create(&func(AggKind::CountDistinct, None, DataType::Utf8)).unwrap();
        distinct.resize(1);
        distinct.update(&v, &rows, &slots).unwrap();
        distinct.update(&v, &rows, &slots).unwrap();
        assert_eq!(distinct.evaluate(&[0]).unwrap().as_primitive::<Int64Type>().value(0), 4);
    }
}

//! Nesting-depth limits: how deeply a JSON record value, a column type and a SQL expression
//! may nest.
//!
//! Decoders, the parser and the planner walk nested input recursively, one stack frame (or
//! several) per level, on threads with 2 MiB stacks (stream threads, tokio workers, test
//! threads). Without a limit a record of 100,000 nested `[`, or a type nested 10,000 deep in
//! `CREATE STREAM`, overflows the stack and aborts the whole process. With these limits:
//!
//! * a JSON record value (and so a Debezium change event) nested deeper than
//!   [`NestingLimits::json`] is a deserialization error: the record is skipped and written to
//!   the processing log, as any record that does not decode;
//! * a type (`ARRAY<…>`, `MAP<…>`, `STRUCT<…>`, also through `CREATE TYPE` names, in DDL and
//!   in `CAST`) nested deeper than [`NestingLimits::types`] is a statement error naming the
//!   limit;
//! * an expression nested deeper than [`NestingLimits::expressions`] (a chain of 100,000
//!   `a + a + …` parses without recursion but is a tree that deep) is a statement error
//!   naming the limit.
//!
//! The limits are process-wide: `brook server` and `brook sql` set them from their flags at
//! start ([`NestingLimits::install`]); everything else reads [`NestingLimits::current`].

use std::sync::atomic::{AtomicUsize, Ordering};

/// Default [`NestingLimits::json`]: serde_json's default recursion limit.
pub const DEFAULT_JSON_MAX_NESTING_DEPTH: usize = 128;
/// Default [`NestingLimits::types`].
pub const DEFAULT_TYPE_MAX_NESTING_DEPTH: usize = 64;
/// Default [`NestingLimits::expressions`]. Planning and evaluating an expression takes a few
/// KiB of stack per level; 256 levels stay well inside a 2 MiB thread stack.
pub const DEFAULT_EXPRESSION_MAX_NESTING_DEPTH: usize = 256;

static JSON: AtomicUsize = AtomicUsize::new(DEFAULT_JSON_MAX_NESTING_DEPTH);
static TYPES: AtomicUsize = AtomicUsize::new(DEFAULT_TYPE_MAX_NESTING_DEPTH);
static EXPRESSIONS: AtomicUsize = AtomicUsize::new(DEFAULT_EXPRESSION_MAX_NESTING_DEPTH);

/// How deeply input may nest (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestingLimits {
    /// Arrays and objects in one JSON record value (`json.max.nesting.depth`).
    pub json: usize,
    /// `ARRAY`, `MAP` and `STRUCT` levels in one type (`type.max.nesting.depth`).
    pub types: usize,
    /// Levels of one expression tree (`expression.max.nesting.depth`).
    pub expressions: usize,
}

impl Default for NestingLimits {
    fn default() -> Self {
        NestingLimits {
            json: DEFAULT_JSON_MAX_NESTING_DEPTH,
            types: DEFAULT_TYPE_MAX_NESTING_DEPTH,
            expressions: DEFAULT_EXPRESSION_MAX_NESTING_DEPTH,
        }
    }
}

impl NestingLimits {
    /// The limits in force in this process.
    pub fn current() -> Self {
        NestingLimits {
            json: JSON.load(Ordering::Relaxed),
            types: TYPES.load(Ordering::Relaxed),
            expressions: EXPRESSIONS.load(Ordering::Relaxed),
        }
    }

    /// Makes these the limits of this process (each at least 1). Queries started later
    /// decode with the new JSON limit; statements parsed later use the others.
    pub fn install(self) {
        JSON.store(self.json.max(1), Ordering::Relaxed);
        TYPES.store(self.types.max(1), Ordering::Relaxed);
        EXPRESSIONS.store(self.expressions.max(1), Ordering::Relaxed);
    }
}

/// Whether the JSON text `payload` nests arrays and objects more than `limit` deep. Brackets
/// inside strings do not count; the text need not be valid JSON. Cheap for the usual record:
/// a text with at most `limit` opening brackets cannot be too deep, and counting them is one
/// vectorized pass.
pub fn json_deeper_than(payload: &[u8], limit: usize) -> bool {
    let openers = payload.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if openers <= limit {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in payload {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        assert!(!json_deeper_than(br#"{"a":[1,{"b":[]}]}"#, 4));
        assert!(json_deeper_than(br#"{"a":[1,{"b":[]}]}"#, 3));
        // Brackets in strings (escaped quotes included) are text.
        assert!(!json_deeper_than(br#"{"a":"[[[[\"[[[["}"#, 1));
        // Siblings do not add up; unbalanced text is still measured.
        assert!(!json_deeper_than(b"[[],[],[],[]]", 2));
        assert!(json_deeper_than(&[b'['; 200], 128));
        assert!(!json_deeper_than(&b"[]".repeat(1000), 1));
    }
}

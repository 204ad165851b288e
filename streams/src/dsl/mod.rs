//! The Rust DSL, in the spirit of Kafka Streams: [`StreamsBuilder`], [`KStream`], [`KTable`],
//! grouped and windowed streams, and joins.
//!
//! ```
//! use brook_streams::dsl::StreamsBuilder;
//! use brook_streams::test_driver::TopologyTestDriver;
//! use brook_streams::serde::serdes;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<String, String>("words")
//!     .flat_map_values(|line| line.split(' ').map(str::to_string).collect::<Vec<String>>())
//!     .group_by(|_, word| word.clone())
//!     .count()
//!     .to_stream()
//!     .to("counts");
//! let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
//! driver.pipe("words", &serdes::string(), &serdes::string(), &"k".to_string(), &"a b a".to_string(), 1).unwrap();
//! let out = driver.read_typed("counts", &serdes::string(), &serdes::i64()).unwrap();
//! let last: Vec<_> = out.iter().map(|r| (r.key.as_str(), r.value)).collect();
//! assert_eq!(last, vec![("a", 1), ("b", 1), ("a", 2)]);
//! ```
//!
//! Types flowing through the DSL implement [`Data`], which supplies their default serde:
//! `String`, numbers and `Bytes` use Kafka's standard encodings; user types opt into JSON with
//! [`json_data!`](crate::json_data). Sources and sinks can override serdes.

mod builder;
mod grouped;
mod join;
mod kstream;
mod ktable;
pub(crate) mod node;
mod window;

pub use builder::StreamsBuilder;
pub use grouped::{
    EmitStrategy, KGroupedStream, SessionWindowedKStream, SlidingWindowedKStream, TimeWindowedKStream,
};
pub use join::JoinWindows;
pub use kstream::{Branch, KStream};
pub use ktable::{Change, KTable};
pub use node::Processor;
pub use window::{
    SessionWindows, SlidingWindows, TimeWindows, Window, Windowed, WindowedSerde, time_window_starts,
};

use bytes::Bytes;

use crate::serde::{SerdeRef, serdes};

/// A type that can flow through the DSL: cloneable, and with a default serde.
pub trait Data: Clone + 'static {
    /// The serde used when none is given explicitly.
    fn serde() -> SerdeRef<Self>;
}

impl Data for String {
    fn serde() -> SerdeRef<Self> {
        serdes::string()
    }
}
impl Data for i64 {
    fn serde() -> SerdeRef<Self> {
        serdes::i64()
    }
}
impl Data for i32 {
    fn serde() -> SerdeRef<Self> {
        serdes::i32()
    }
}
impl Data for u64 {
    fn serde() -> SerdeRef<Self> {
        serdes::u64()
    }
}
impl Data for f64 {
    fn serde() -> SerdeRef<Self> {
        serdes::f64()
    }
}
impl Data for Bytes {
    fn serde() -> SerdeRef<Self> {
        serdes::bytes()
    }
}
impl Data for () {
    fn serde() -> SerdeRef<Self> {
        serdes::unit()
    }
}
impl<T: Data> Data for Option<T> {
    fn serde() -> SerdeRef<Self> {
        serdes::nullable(T::serde())
    }
}
impl Data for serde_json::Value {
    fn serde() -> SerdeRef<Self> {
        serdes::json()
    }
}
impl<A, B> Data for (A, B)
where
    A: Clone + serde::Serialize + serde::de::DeserializeOwned + 'static,
    B: Clone + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn serde() -> SerdeRef<Self> {
        serdes::json()
    }
}
impl<T> Data for Vec<T>
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn serde() -> SerdeRef<Self> {
        serdes::json()
    }
}

/// Makes serde types usable in the DSL with JSON as their default serde:
/// `brook_streams::json_data!(Order, Customer);`
#[macro_export]
macro_rules! json_data {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::dsl::Data for $t {
            fn serde() -> $crate::serde::SerdeRef<Self> {
                $crate::serde::serdes::json()
            }
        })*
    };
}

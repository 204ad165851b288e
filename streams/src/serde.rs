//! Serdes: how typed keys and values become bytes and back.
//!
//! A [`Serde`] is shared (`Arc`) between every task that uses it. Built-in serdes match the
//! byte formats of Kafka's Java serializers, so topics written by Brook read correctly with any
//! Kafka tooling: strings are UTF-8, integers are big-endian, `f64` is IEEE-754 big-endian, and
//! JSON is `serde_json`. A null (`None`) payload deserializes only into types that admit it
//! (`Option<T>`, `()`, or JSON `null`).

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Converts values of `T` to bytes and back.
pub trait Serde<T>: Send + Sync + 'static {
    /// Encodes a value; `None` means a Kafka null.
    fn serialize(&self, value: &T) -> Result<Option<Bytes>, String>;
    /// Decodes a payload; `None` is a Kafka null.
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, String>;
}

/// A shared serde.
pub type SerdeRef<T> = Arc<dyn Serde<T>>;

/// JSON via `serde_json`.
pub struct Json<T>(PhantomData<fn() -> T>);

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> for Json<T> {
    fn serialize(&self, value: &T) -> Result<Option<Bytes>, String> {
        serde_json::to_vec(value).map(|v| Some(Bytes::from(v))).map_err(|e| e.to_string())
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, String> {
        serde_json::from_slice(bytes.unwrap_or(b"null")).map_err(|e| e.to_string())
    }
}

/// UTF-8 strings (Kafka's `StringSerializer`).
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize(&self, value: &String) -> Result<Option<Bytes>, String> {
        Ok(Some(Bytes::copy_from_slice(value.as_bytes())))
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<String, String> {
        let b = bytes.ok_or("null where a string was expected")?;
        String::from_utf8(b.to_vec()).map_err(|e| format!("not UTF-8: {e}"))
    }
}

/// Raw bytes, unchanged.
pub struct BytesSerde;

impl Serde<Bytes> for BytesSerde {
    fn serialize(&self, value: &Bytes) -> Result<Option<Bytes>, String> {
        Ok(Some(value.clone()))
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Bytes, String> {
        bytes.map(Bytes::copy_from_slice).ok_or_else(|| "null where bytes were expected".into())
    }
}

/// Big-endian fixed-width numbers (Kafka's `LongSerializer`, `IntegerSerializer`,
/// `DoubleSerializer`).
pub struct NumberSerde<T>(PhantomData<fn() -> T>);

macro_rules! number_serde {
    ($t:ty, $n:expr) => {
        impl Serde<$t> for NumberSerde<$t> {
            fn serialize(&self, value: &$t) -> Result<Option<Bytes>, String> {
                Ok(Some(Bytes::copy_from_slice(&value.to_be_bytes())))
            }
            fn deserialize(&self, bytes: Option<&[u8]>) -> Result<$t, String> {
                let b = bytes.ok_or("null where a number was expected")?;
                let arr: [u8; $n] = b
                    .try_into()
                    .map_err(|_| format!("expected {} bytes for {}, got {}", $n, stringify!($t), b.len()))?;
                Ok(<$t>::from_be_bytes(arr))
            }
        }
    };
}
number_serde!(i64, 8);
number_serde!(i32, 4);
number_serde!(u64, 8);
number_serde!(f64, 8);

/// The unit type: always a null payload (for unkeyed streams).
pub struct UnitSerde;

impl Serde<()> for UnitSerde {
    fn serialize(&self, _: &()) -> Result<Option<Bytes>, String> {
        Ok(None)
    }
    fn deserialize(&self, _: Option<&[u8]>) -> Result<(), String> {
        Ok(())
    }
}

/// Makes any serde null-tolerant: `None` ↔ Kafka null.
pub struct Nullable<T>(pub SerdeRef<T>);

impl<T: 'static> Serde<Option<T>> for Nullable<T> {
    fn serialize(&self, value: &Option<T>) -> Result<Option<Bytes>, String> {
        match value {
            Some(v) => self.0.serialize(v),
            None => Ok(None),
        }
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<T>, String> {
        match bytes {
            None => Ok(None),
            Some(b) => self.0.deserialize(Some(b)).map(Some),
        }
    }
}

/// A serde from two closures, for user formats.
pub struct FnSerde<T, S, D> {
    ser: S,
    de: D,
    _t: PhantomData<fn() -> T>,
}

impl<T, S, D> Serde<T> for FnSerde<T, S, D>
where
    T: 'static,
    S: Fn(&T) -> Result<Option<Bytes>, String> + Send + Sync + 'static,
    D: Fn(Option<&[u8]>) -> Result<T, String> + Send + Sync + 'static,
{
    fn serialize(&self, value: &T) -> Result<Option<Bytes>, String> {
        (self.ser)(value)
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, String> {
        (self.de)(bytes)
    }
}

/// Constructors for the built-in serdes.
pub mod serdes {
    use super::*;

    /// JSON for any serde type.
    pub fn json<T: Serialize + DeserializeOwned + 'static>() -> SerdeRef<T> {
        Arc::new(Json(PhantomData))
    }
    /// UTF-8 strings.
    pub fn string() -> SerdeRef<String> {
        Arc::new(StringSerde)
    }
    /// Raw bytes.
    pub fn bytes() -> SerdeRef<Bytes> {
        Arc::new(BytesSerde)
    }
    /// Big-endian i64.
    pub fn i64() -> SerdeRef<i64> {
        Arc::new(NumberSerde::<i64>(PhantomData))
    }
    /// Big-endian i32.
    pub fn i32() -> SerdeRef<i32> {
        Arc::new(NumberSerde::<i32>(PhantomData))
    }
    /// Big-endian u64.
    pub fn u64() -> SerdeRef<u64> {
        Arc::new(NumberSerde::<u64>(PhantomData))
    }
    /// Big-endian f64.
    pub fn f64() -> SerdeRef<f64> {
        Arc::new(NumberSerde::<f64>(PhantomData))
    }
    /// Always-null payload.
    pub fn unit() -> SerdeRef<()> {
        Arc::new(UnitSerde)
    }
    /// `Option<T>` with `None` as Kafka null.
    pub fn nullable<T: 'static>(inner: SerdeRef<T>) -> SerdeRef<Option<T>> {
        Arc::new(Nullable(inner))
    }
    /// A user-defined serde.
    pub fn from_fn<T: 'static>(
        ser: impl Fn(&T) -> Result<Option<Bytes>, String> + Send + Sync + 'static,
        de: impl Fn(Option<&[u8]>) -> Result<T, String> + Send + Sync + 'static,
    ) -> SerdeRef<T> {
        Arc::new(FnSerde { ser, de, _t: PhantomData })
    }
}

#[cfg(test)]
mod tests {
    use super::serdes;

    #[test]
    fn kafka_compatible_encodings() {
        assert_eq!(serdes::i64().serialize(&258).unwrap().unwrap().as_ref(), &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(serdes::i32().deserialize(Some(&[0, 0, 1, 0])).unwrap(), 256);
        assert!(serdes::i32().deserialize(Some(&[0, 1])).is_err());
        assert_eq!(serdes::string().deserialize(Some(b"hi")).unwrap(), "hi");
        assert!(serdes::string().deserialize(None).is_err());
        assert_eq!(serdes::nullable(serdes::string()).deserialize(None).unwrap(), None);
        let j = serdes::json::<Option<u32>>();
        assert_eq!(j.deserialize(None).unwrap(), None);
        assert_eq!(j.deserialize(Some(b"7")).unwrap(), Some(7));
        assert!(serdes::json::<u32>().deserialize(Some(b"{")).is_err());
    }
}

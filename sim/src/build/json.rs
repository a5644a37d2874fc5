//! A JSON object read in file order with duplicate keys detected (serde's
//! maps keep the last of two equal keys silently), and the read-and-parse
//! step shared by the JSON importers.

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

/// Key-value pairs of a JSON object, in file order.
#[derive(Debug, Clone)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                let mut seen = std::collections::BTreeSet::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    if !seen.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!("key {k:?} appears twice")));
                    }
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// Why a JSON input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("cannot read {path}: {err}")]
    Read { path: String, err: std::io::Error },
    /// serde_json's message names the line and column.
    #[error("{path}: {err}")]
    Parse {
        path: String,
        err: serde_json::Error,
    },
}

/// Reads and parses a whole JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, JsonError> {
    let name = path.display().to_string();
    let text = std::fs::read(path).map_err(|err| JsonError::Read {
        path: name.clone(),
        err,
    })?;
    serde_json::from_slice(&text).map_err(|err| JsonError::Parse { path: name, err })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_rejects_duplicates() {
        let m: OrderedMap<u32> = serde_json::from_str(r#"{"b": 1, "a": 2}"#).expect("valid");
        assert_eq!(m.0, vec![("b".to_string(), 1), ("a".to_string(), 2)]);
        let e = serde_json::from_str::<OrderedMap<u32>>("{\"a\": 1,\n \"a\": 2}").expect_err("dup");
        assert!(
            e.to_string().contains("\"a\" appears twice") && e.to_string().contains("line 2"),
            "{e}"
        );
    }
}

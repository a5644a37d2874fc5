//! The one list of phases an invocation's latency is made of: a single
//! generic record, [`ByPhase`], holds one value per phase. The planner's
//! prediction is `ByPhase<Micros>` ([`crate::cost::Phases`]), the
//! per-invocation record's `ByPhase<u64>` ([`crate::record::PhasesUs`]),
//! sim's summary means `ByPhase<f64>`; names, order, iteration and
//! conversion are defined here once.

use serde::{Deserialize, Serialize};

/// One `T` per phase, in the order of [`NAMES`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", bound(deserialize = "T: Deserialize<'de> + Default"))]
pub struct ByPhase<T> {
    /// Waiting for a core or for memory (the worker's queue).
    pub queue: T,
    /// Lean container creation, plus interpreter start on the fresh path.
    pub create: T,
    /// Forking the Zygote into the new container (or a spare taking it).
    pub fork: T,
    /// Resuming a paused handler.
    pub unpause: T,
    /// `pip install` of packages missing from the install cache.
    pub install: T,
    /// Importing packages the Zygote (or nothing) had not imported.
    pub import: T,
    /// Running the handler.
    pub handler: T,
    /// The request reaching the handler and the response coming back.
    /// Absent in record schema 1 (read as the default: it was folded into
    /// the path's start phase).
    #[serde(default)]
    pub transport: T,
}

/// Phase names, in field order.
pub const NAMES: [&str; 8] = [
    "queue",
    "create",
    "fork",
    "unpause",
    "install",
    "import",
    "handler",
    "transport",
];

impl<T: Copy> ByPhase<T> {
    pub const NAMES: [&'static str; 8] = NAMES;

    /// Values in the order of [`NAMES`].
    pub fn values(&self) -> [T; 8] {
        [
            self.queue,
            self.create,
            self.fork,
            self.unpause,
            self.install,
            self.import,
            self.handler,
            self.transport,
        ]
    }

    /// The inverse of [`ByPhase::values`].
    pub fn from_values(v: [T; 8]) -> ByPhase<T> {
        let [queue, create, fork, unpause, install, import, handler, transport] = v;
        ByPhase {
            queue,
            create,
            fork,
            unpause,
            install,
            import,
            handler,
            transport,
        }
    }

    /// Each value mapped.
    pub fn map<U: Copy>(&self, f: impl FnMut(T) -> U) -> ByPhase<U> {
        ByPhase::from_values(self.values().map(f))
    }

    /// (name, value) pairs, in order.
    pub fn pairs(&self) -> [(&'static str, T); 8] {
        let v = self.values();
        std::array::from_fn(|i| (NAMES[i], v[i]))
    }
}

impl<T: Copy + std::iter::Sum> ByPhase<T> {
    pub fn total(&self) -> T {
        self.values().into_iter().sum()
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for ByPhase<T> {
    /// Only a JSON object (an array would bypass the field names).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = ByPhase<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object (phases)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ByPhase<T>, A::Error> {
                ByPhase::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectOnly(std::marker::PhantomData))
    }
}

impl<T: Serialize> Serialize for ByPhase<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ByPhase::serialize(self, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_objects_only() {
        let p = ByPhase::from_values([1u64, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.fork, 3);
        assert_eq!(p.total(), 36);
        assert_eq!(p.map(|v| v as f64 / 2.0).transport, 4.0);
        assert_eq!(p.pairs()[7], ("transport", 8));
        let json = serde_json::to_string(&p).expect("json");
        assert!(json.starts_with(r#"{"queue":1,"create":2"#), "{json}");
        let back: ByPhase<u64> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, p);
        // Schema 1: no transport.
        let old: ByPhase<u64> = serde_json::from_str(
            r#"{"queue":0,"create":1,"fork":0,"unpause":0,"install":0,"import":0,"handler":5}"#,
        )
        .expect("parse");
        assert_eq!(old.transport, 0);
        assert!(serde_json::from_str::<ByPhase<u64>>("[0,1,0,0,0,0,5,0]").is_err());
    }
}

//! Structs read from files accept a JSON object only.
//!
//! serde's derived `Deserialize` for a struct also takes a JSON *array* of
//! its fields in order, which bypasses `deny_unknown_fields` and makes
//! `["sock-trace", 1, ...]` a valid header (issue 12). A struct that derives
//! with `#[serde(remote = "Self")]` gets the derived code as inherent
//! functions; [`object_only!`] then implements the traits, deserializing
//! through `deserialize_map` so that anything but an object is refused
//! ("invalid type: sequence, expected ...") before the derived code runs.

/// `object_only!(Type, "what it is")` implements `Deserialize`;
/// `object_only!(Type, "what it is", serialize)` also `Serialize`.
macro_rules! object_only {
    ($ty:ident, $what:literal) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct ObjectOnly;
                impl<'de> serde::de::Visitor<'de> for ObjectOnly {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", $what, ")"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$ty, A::Error> {
                        // The inherent, derived (`remote = "Self"`) function.
                        $ty::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(ObjectOnly)
            }
        }
    };
    ($ty:ident, $what:literal, serialize) => {
        object_only!($ty, $what);
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, s)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(remote = "Self", deny_unknown_fields)]
    struct Point {
        x: u32,
        #[serde(default)]
        y: u32,
    }
    object_only!(Point, "a point");

    #[test]
    fn json_arrays_are_refused_where_an_object_is_required() {
        let p: Point = serde_json::from_str(r#"{"x": 1}"#).expect("object");
        assert_eq!(p, Point { x: 1, y: 0 });
        let e = serde_json::from_str::<Point>("[1, 2]").expect_err("array");
        assert!(
            e.to_string()
                .contains("invalid type: sequence, expected a JSON object (a point)"),
            "{e}"
        );
        let e = serde_json::from_str::<Point>(r#"{"x": 1, "z": 2}"#).expect_err("unknown");
        assert!(e.to_string().contains("unknown field `z`"), "{e}");
        let e = serde_json::from_str::<Vec<Point>>("[[1, 2]]").expect_err("nested");
        assert!(e.to_string().contains("invalid type: sequence"), "{e}");
    }
}

//! Integer fields that also take whole-number floats (`3.0`), as the official client's
//! pydantic models do; and [`opt_compact`], which sends a whole number as an integer.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// An integer of type `T` from a JSON integer or a whole-number float.
pub(crate) fn int<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    d.deserialize_any(Whole(PhantomData))
}

/// [`int`] for an optional field: `null` is `None`.
pub(crate) fn opt_int<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    #[derive(serde::Deserialize)]
    #[serde(bound = "T: TryFrom<u64>")]
    struct Int<T>(#[serde(deserialize_with = "int")] T);
    Ok(<Option<Int<T>> as serde::Deserialize>::deserialize(d)?.map(|Int(t)| t))
}

/// Writes an optional number as an integer when whole and exact (`5`), else as `2.5`.
pub(crate) fn opt_compact<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match *v {
        // Whole and within ±2^53, where every integer is an exact f64.
        Some(x) if x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0 => {
            s.serialize_i64(x as i64)
        }
        Some(x) => s.serialize_f64(x),
        None => s.serialize_none(),
    }
}

struct Whole<T>(PhantomData<T>);

impl<T: TryFrom<u64>> Visitor<'_> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number from 0 to {}", max::<T>())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        let u = u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self));
        self.visit_u64(u?)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // Below 2^64, and whole: exactly one u64.
        if (0.0..18_446_744_073_709_551_616.0).contains(&v) && v.fract() == 0.0 {
            self.visit_u64(v as u64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

/// The largest value of `T`, found by trying (the types used are unsigned).
fn max<T: TryFrom<u64>>() -> u64 {
    [u64::MAX, u32::MAX as u64, u16::MAX as u64, u8::MAX as u64]
        .into_iter()
        .find(|m| T::try_from(*m).is_ok())
        .unwrap_or(0)
}

//! OpenAI chat (and legacy completions) stream chunks read into borrowed, typed fields instead
//! of a `serde_json::Value`. Only chunks whose fields have the expected types parse; anything
//! else goes through the general `Value` path, so both read the same facts.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

#[derive(Deserialize)]
pub(super) struct ChatChunk<'a> {
    /// Chat chunks have none; any other stream's events go the general way.
    #[serde(rename = "type", default)]
    pub kind: Option<IgnoredAny>,
    #[serde(default, borrow)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub choices: Option<Vec<Choice<'a>>>,
    /// Present (not null) in the last chunk only.
    #[serde(default)]
    pub usage: Option<Value>,
    #[serde(default)]
    pub error: Option<IsObject>,
}

#[derive(Deserialize)]
pub(super) struct Choice<'a> {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub delta: Option<Delta<'a>>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct Delta<'a> {
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    #[serde(default)]
    pub tool_calls: Option<Value>,
}

impl ChatChunk<'_> {
    pub fn has_error_object(&self) -> bool {
        self.error.as_ref().is_some_and(|e| e.0)
    }
}

impl Choice<'_> {
    /// The delta's content, else the legacy completion's text.
    pub fn text(&self) -> Option<&str> {
        self.delta
            .as_ref()
            .and_then(|d| d.content.as_deref())
            .or(self.text.as_deref())
    }

    pub fn tool_calls(&self) -> Option<&Value> {
        self.delta.as_ref().and_then(|d| d.tool_calls.as_ref())
    }
}

/// Any JSON value, skipped; remembers only whether it was an object.
pub(super) struct IsObject(bool);

impl<'de> Deserialize<'de> for IsObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IsObjectVisitor)
    }
}

struct IsObjectVisitor;

impl<'de> Visitor<'de> for IsObjectVisitor {
    type Value = IsObject;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IsObject, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(IsObject(true))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IsObject, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(IsObject(false))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<IsObject, E> {
        Ok(IsObject(false))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<IsObject, E> {
        Ok(IsObject(false))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<IsObject, E> {
        Ok(IsObject(false))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<IsObject, E> {
        Ok(IsObject(false))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<IsObject, E> {
        Ok(IsObject(false))
    }

    fn visit_unit<E: de::Error>(self) -> Result<IsObject, E> {
        Ok(IsObject(false))
    }
}

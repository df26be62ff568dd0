//! The `LLM_PROXY_*` names the settings loader accepts, derived from the settings structs
//! serialised to JSON (so a renamed key changes the catalogue), and a scanner for the names
//! deployment files use.

use std::collections::BTreeSet;

use serde_json::Value;

pub const PREFIX: &str = "LLM_PROXY_";

/// Names one JSON shape of settings produces: leaves are exact names; an empty map is a map
/// with free keys (any deeper name is accepted).
#[derive(Debug, Default, Clone)]
struct Shape {
    exact: BTreeSet<String>,
    free: BTreeSet<String>,
}

impl Shape {
    fn of(value: &Value) -> Self {
        let mut shape = Self::default();
        shape.walk(value, "");
        shape
    }

    fn walk(&mut self, value: &Value, path: &str) {
        match value {
            Value::Object(map) if map.is_empty() && !path.is_empty() => {
                self.free.insert(path.to_owned());
            }
            Value::Object(map) => {
                for (key, child) in map {
                    let upper = key.to_ascii_uppercase();
                    let next = if path.is_empty() {
                        upper
                    } else {
                        format!("{path}__{upper}")
                    };
                    self.walk(child, &next);
                }
            }
            _ => {
                self.exact.insert(path.to_owned());
            }
        }
    }

    fn accepts(&self, suffix: &str) -> bool {
        self.exact.contains(suffix)
            || self.free.iter().any(|p| {
                suffix
                    .strip_prefix(p.as_str())
                    .is_some_and(|r| r.starts_with("__") && r.len() > 2)
            })
    }
}

/// Every environment variable the settings loader reads.
#[derive(Debug, Clone)]
pub struct EnvCatalog {
    top: Shape,
    /// Maps keyed by a name the operator chooses (`providers`), with the shape of one entry.
    keyed: Vec<(String, Shape)>,
    extra: BTreeSet<String>,
}

impl EnvCatalog {
    /// `settings` is `Settings::default()` as JSON; `keyed` names the top-level maps whose keys
    /// are free (with one entry's default as JSON); `extra` adds non-settings variables.
    pub fn new(settings: &Value, keyed: &[(&str, Value)], extra: &[&str]) -> Self {
        let mut without_keyed = settings.clone();
        if let Value::Object(map) = &mut without_keyed {
            for (name, _) in keyed {
                map.remove(*name);
            }
        }
        Self {
            top: Shape::of(&without_keyed),
            keyed: keyed
                .iter()
                .map(|(name, entry)| (name.to_ascii_uppercase(), Shape::of(entry)))
                .collect(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn accepts(&self, name: &str) -> bool {
        if self.extra.contains(name) {
            return true;
        }
        let Some(rest) = name.strip_prefix(PREFIX) else {
            return false;
        };
        if self.top.accepts(rest) {
            return true;
        }
        self.keyed.iter().any(|(map, shape)| {
            rest.strip_prefix(map.as_str())
                .and_then(|r| r.strip_prefix("__"))
                .and_then(|r| r.split_once("__"))
                .is_some_and(|(key, field)| !key.is_empty() && shape.accepts(field))
        })
    }

    /// The exact top-level names, e.g. for listing what exists in an error message.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.top.exact.iter().map(|s| format!("{PREFIX}{s}"))
    }
}

/// Every `LLM_PROXY_…` word in `text`. Words ending in `_` (such as `LLM_PROXY_*` in prose)
/// are not names and are skipped.
pub fn mentioned(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let before_ok = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let word = &tail[..len];
        if before_ok && !word.ends_with('_') {
            out.insert(word.to_owned());
        }
        rest = &tail[len.max(1)..];
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn catalogue_follows_the_json_shape() {
        let settings = json!({
            "server": {"port": 8080, "workers": null},
            "data_dir": "./data",
            "providers": {"openai": {"base_url": "x"}},
            "labels": {},
        });
        let catalog = EnvCatalog::new(
            &settings,
            &[("providers", json!({"base_url": "", "allowed_params": {}}))],
            &["LLM_PROXY_CONFIG"],
        );
        assert!(catalog.accepts("LLM_PROXY_SERVER__PORT"));
        assert!(catalog.accepts("LLM_PROXY_SERVER__WORKERS"));
        assert!(catalog.accepts("LLM_PROXY_DATA_DIR"));
        assert!(catalog.accepts("LLM_PROXY_CONFIG"));
        assert!(catalog.accepts("LLM_PROXY_PROVIDERS__AZURE__BASE_URL"));
        assert!(catalog.accepts("LLM_PROXY_PROVIDERS__AZURE__ALLOWED_PARAMS__SEED"));
        assert!(catalog.accepts("LLM_PROXY_LABELS__TEAM"));
        assert!(!catalog.accepts("LLM_PROXY_SERVER"));
        assert!(!catalog.accepts("LLM_PROXY_SERVER__PROT"));
        assert!(!catalog.accepts("LLM_PROXY_PROVIDERS__BASE_URL"));
    }

    #[test]
    fn finds_names_in_text() {
        let found = mentioned(
            "a LLM_PROXY_SERVER__PORT=1, `LLM_PROXY_*`, XLLM_PROXY_NO, LLM_PROXY_DATA_DIR",
        );
        let want: BTreeSet<String> = ["LLM_PROXY_SERVER__PORT", "LLM_PROXY_DATA_DIR"]
            .map(String::from)
            .into();
        assert_eq!(found, want);
    }
}

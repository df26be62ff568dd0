//! Prices (`[[pricing.models]]`), the usage ledger (`[usage]`) and budget reservations
//! (`[budgets]`).

use llm_proxy_core::usage_cost::{ModelPrice, PriceTable};
use serde::{Deserialize, Serialize};

use super::SettingsError;

/// USD per million tokens, per model name or glob:
///
/// ```toml
/// [[pricing.models]]
/// model = "gpt-4o-mini*"
/// input = 0.15
/// output = 0.60
/// cached_input = 0.075
/// ```
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricingSettings {
    pub models: Vec<ModelPrice>,
}

impl PricingSettings {
    pub fn table(&self) -> PriceTable {
        PriceTable::new(self.models.clone())
    }

    /// The price of a model, without copying the table.
    pub fn find(&self, provider: &str, model: &str) -> Option<&ModelPrice> {
        llm_proxy_core::usage_cost::find_price(&self.models, provider, model)
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        self.table()
            .validate()
            .map_err(|(key, message)| SettingsError::invalid(&key, &message))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageSettings {
    /// How long the ledger remembers which event ids it counted. A redelivered event is
    /// recognised within this window; an event older than it is not counted at all (it could
    /// not be told apart from one already counted). Size it above the event stream's and the
    /// spill's reach.
    pub dedupe_retention_hours: u64,
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self {
            dedupe_retention_hours: 7 * 24,
        }
    }
}

impl UsageSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.dedupe_retention_hours == 0 {
            return Err(SettingsError::invalid(
                "usage.dedupe_retention_hours",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// How admission reserves budget before a call.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetSettings {
    /// Output tokens reserved for a call that names no `max_tokens` (`max_output_tokens`,
    /// `max_completion_tokens`); also the most a named limit reserves up front.
    pub default_output_tokens: u64,
    /// When a stream outgrows its reservation, it reserves this many more output tokens at a
    /// time; when the budget cannot give them, the stream is ended.
    pub stream_step_tokens: u64,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            default_output_tokens: 4096,
            stream_step_tokens: 1024,
        }
    }
}

impl BudgetSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.default_output_tokens == 0 {
            return Err(SettingsError::invalid(
                "budgets.default_output_tokens",
                "must be greater than 0",
            ));
        }
        if self.stream_step_tokens == 0 {
            return Err(SettingsError::invalid(
                "budgets.stream_step_tokens",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;
    use std::io::Write;

    use crate::settings::{LoadOptions, Settings};

    #[test]
    fn prices_load_from_the_config_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            r#"
[[pricing.models]]
model = "gpt-4o-mini*"
input = 0.15
output = 0.6

[[pricing.models]]
model = "claude-3-5-haiku*"
provider = "anthropic"
input = 1
output = 5
cached_input = 0.1

[budgets]
default_output_tokens = 1000
"#
        )
        .unwrap();
        let s = Settings::load(LoadOptions {
            config_file: Some(file.path().to_path_buf()),
            overrides: Vec::new(),
            env: Some(HashMap::new()),
        })
        .unwrap();
        let table = s.pricing.table();
        assert_eq!(
            table.find("openai", "gpt-4o-mini-2024").unwrap().output,
            0.6
        );
        let haiku = table.find("anthropic", "claude-3-5-haiku-latest").unwrap();
        assert_eq!((haiku.input, haiku.cached_input), (1.0, Some(0.1)));
        assert!(table.find("openai", "claude-3-5-haiku-latest").is_none());
        assert_eq!(s.budgets.default_output_tokens, 1000);
        assert_eq!(s.usage.dedupe_retention_hours, 168);
    }

    #[test]
    fn bad_prices_name_their_row() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[[pricing.models]]\nmodel = \"x\"\ninput = -1\noutput = 1\n"
        )
        .unwrap();
        let err = Settings::load(LoadOptions {
            config_file: Some(file.path().to_path_buf()),
            overrides: Vec::new(),
            env: Some(HashMap::new()),
        })
        .unwrap_err();
        assert!(err.to_string().contains("pricing.models[0].input"), "{err}");
    }
}

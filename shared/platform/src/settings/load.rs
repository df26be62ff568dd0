//! Layering of defaults, file, environment and flags into `Settings`.

use std::collections::HashMap;
use std::path::PathBuf;

use config::{Config, Environment, File, FileFormat};

use super::Settings;

/// `LLM_PROXY_*` variables that are not settings (read by the CLI or the tests).
pub const NON_SETTINGS_ENV_VARS: &[&str] = &[
    "LLM_PROXY_CONFIG",
    "LLM_PROXY_MANAGEMENT_URL",
    "LLM_PROXY_TEST_DATABASE_URL",
    "LLM_PROXY_TEST_REDIS_URL",
    "LLM_PROXY_SLOW_TESTS",
];

#[derive(serde::Serialize)]
struct DefaultProviders {
    providers: std::collections::BTreeMap<String, super::ProviderSettings>,
}

#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// `--config`; falls back to `LLM_PROXY_CONFIG`.
    pub config_file: Option<PathBuf>,
    /// Dotted keys from command-line flags, e.g. `("server.port", "9000")`; these win.
    pub overrides: Vec<(String, String)>,
    /// The environment to read; `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl SettingsError {
    pub fn invalid(key: &str, message: &str) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl Settings {
    /// Loads and validates. Unknown keys and bad values are errors naming the key.
    pub fn load(options: LoadOptions) -> Result<Self, SettingsError> {
        let env = options.env.unwrap_or_else(|| std::env::vars().collect());
        let config_file = options.config_file.or_else(|| {
            env.get("LLM_PROXY_CONFIG")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });

        // Default providers enter as a source, not as a serde default, so that a file or variable
        // setting one field of `providers.openai` keeps the rest of its defaults.
        let defaults = DefaultProviders {
            providers: super::providers::default_providers(),
        };
        let mut builder = Config::builder().add_source(
            Config::try_from(&defaults).map_err(|e| SettingsError::Parse(e.to_string()))?,
        );
        if let Some(path) = &config_file {
            let text = std::fs::read_to_string(path).map_err(|e| SettingsError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
            // Parse the file on its own first so its errors name the file.
            Config::builder()
                .add_source(File::from_str(&text, FileFormat::Toml))
                .build()
                .map_err(|e| SettingsError::File {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
        }

        let settings_env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with("LLM_PROXY_") && !NON_SETTINGS_ENV_VARS.contains(&k.as_str())
            })
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("LLM_PROXY")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("providers.openai.allowed_origins")
                .try_parsing(true)
                .source(Some(settings_env.into_iter().collect())),
        );
        for (key, value) in &options.overrides {
            builder = builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|e| SettingsError::invalid(key, &e.to_string()))?;
        }

        let merged = builder
            .build()
            .map_err(|e| SettingsError::Parse(e.to_string()))?;
        let settings: Settings = merged
            .try_deserialize()
            .map_err(|e| SettingsError::Parse(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }
}

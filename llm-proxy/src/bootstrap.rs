//! Start-up steps every role shares. Each failure is one line naming what and where.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use llm_proxy_core::SecretString;
use llm_proxy_platform::settings::DatabaseKind;
use llm_proxy_platform::{Cipher, EncryptionKey, LoadOptions, Settings};
use llm_proxy_store::DynStore;
use rand::RngCore;

use crate::cli::ServeArgs;

const MANAGEMENT_TOKEN_FILE: &str = "management.token";

pub fn load_settings(args: &ServeArgs) -> Result<Arc<Settings>, String> {
    load(args.load_options())
}

/// Settings from defaults, file, environment and flags; starts telemetry.
pub fn load(options: LoadOptions) -> Result<Arc<Settings>, String> {
    let settings = Settings::load(options).map_err(|e| e.to_string())?;
    llm_proxy_platform::telemetry::init(&settings.telemetry);
    Ok(Arc::new(settings))
}

pub fn ensure_data_dir(settings: &Settings) -> Result<(), String> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            settings.data_dir.display()
        )
    })
}

pub fn backend_label(settings: &Settings) -> String {
    match settings.database_kind() {
        Ok(DatabaseKind::Sqlite(path)) => format!("sqlite {}", path.display()),
        Ok(DatabaseKind::Postgres(_)) => "postgres".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// The configured key, or (embedded mode only) one generated into the data directory.
pub fn encryption_key(settings: &Settings, allow_generate: bool) -> Result<EncryptionKey, String> {
    if let Some(key) = &settings.encryption_key {
        return EncryptionKey::from_base64(key.expose()).map_err(|e| e.to_string());
    }
    if !allow_generate {
        return Err(
            "LLM_PROXY_ENCRYPTION_KEY is not set; every node of a deployment needs the same key \
             (standard base64 of 32 bytes, e.g. `openssl rand -base64 32`)"
                .to_owned(),
        );
    }
    let (key, generated) =
        EncryptionKey::load_or_generate(&settings.data_dir).map_err(|e| e.to_string())?;
    let path = settings
        .data_dir
        .join(llm_proxy_platform::crypto::KEY_FILE_NAME);
    if generated {
        tracing::warn!(path = %path.display(), "generated a new encryption key (mode 0600); back it up: stored provider keys cannot be read without it");
    } else {
        tracing::info!(path = %path.display(), "using the encryption key from the data directory");
    }
    Ok(key)
}

/// Where the management token came from, so `up` can tell the operator.
pub enum ManagementToken {
    Configured(SecretString),
    Generated { token: SecretString, path: PathBuf },
    Stored { token: SecretString, path: PathBuf },
}

impl ManagementToken {
    pub fn secret(&self) -> &SecretString {
        match self {
            ManagementToken::Configured(t)
            | ManagementToken::Generated { token: t, .. }
            | ManagementToken::Stored { token: t, .. } => t,
        }
    }
}

/// `management_token` from settings, else the one stored in the data directory, else a new one
/// written there (mode 0600) so restarts keep it.
pub fn management_token(settings: &Settings) -> Result<ManagementToken, String> {
    if let Some(token) = &settings.management_token {
        return Ok(ManagementToken::Configured(token.clone()));
    }
    let path = settings.data_dir.join(MANAGEMENT_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 16 => Ok(ManagementToken::Stored {
            token: SecretString::new(text.trim()),
            path,
        }),
        Ok(_) => Err(format!(
            "{} is too short to be a management token; delete it to generate a new one",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let token = format!("mgmt_{token}");
            write_private(&path, &token)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(ManagementToken::Generated {
                token: SecretString::new(token),
                path,
            })
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Migrates (when configured), opens the store and checks the encryption key against it.
pub async fn open_store(
    settings: &Settings,
    key: &EncryptionKey,
    migrate: bool,
) -> Result<DynStore, String> {
    if migrate {
        llm_proxy_store::migrate(settings)
            .await
            .map_err(|e| e.to_string())?;
    }
    let store = llm_proxy_store::open(settings, Cipher::new(key))
        .await
        .map_err(|e| e.to_string())?;
    store
        .verify_encryption_key()
        .await
        .map_err(|e| e.to_string())?;
    Ok(store)
}

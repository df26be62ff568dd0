use llm_proxy_platform::CryptoError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error("project is inactive")]
    ProjectInactive,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn not_found(entity: &'static str) -> Self {
        Self::NotFound { entity }
    }
}

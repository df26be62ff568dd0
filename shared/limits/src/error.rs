//! The one error type of this crate.

#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// No verdict could be reached: Redis did not answer (in time) and the policy is
    /// `fail_closed`, or it answered with an error. The proxy answers 503 `limits_unavailable`.
    #[error("limits unavailable: {0}")]
    Unavailable(String),
    /// Bad configuration (e.g. a key prefix that would break hash tags).
    #[error("invalid limits configuration: {0}")]
    Config(String),
    /// The admission script answered something this crate does not understand (a bug).
    #[error("unexpected admission answer: {0}")]
    Protocol(String),
}

impl LimitsError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<redis::RedisError> for LimitsError {
    fn from(e: redis::RedisError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

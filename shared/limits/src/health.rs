//! What [`crate::Admission::health`] reports, for `/readyz` and `/metrics`.

/// Where decisions come from right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionMode {
    /// Embedded mode.
    Memory,
    /// Redis answers.
    Redis,
    /// Redis is away; this node enforces its share of each limit in memory.
    Degraded,
    /// Redis is away and the policy is `fail_closed`: every admission is refused.
    Unavailable,
}

/// A snapshot for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionHealth {
    pub mode: AdmissionMode,
    /// Times Redis stopped answering.
    pub outages: u64,
    /// Decisions this node made alone while Redis was away.
    pub degraded_decisions: u64,
    /// Admissions refused with [`crate::LimitsError::Unavailable`].
    pub unavailable_errors: u64,
}

impl AdmissionHealth {
    pub(crate) fn memory() -> Self {
        Self::of(AdmissionMode::Memory)
    }

    pub(crate) fn redis() -> Self {
        Self::of(AdmissionMode::Redis)
    }

    fn of(mode: AdmissionMode) -> Self {
        Self {
            mode,
            outages: 0,
            degraded_decisions: 0,
            unavailable_errors: 0,
        }
    }
}

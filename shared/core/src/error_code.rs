//! The one table of error codes the gateway itself produces (DESIGN §4, §13).

use serde::Serialize;

/// Every error the gateway makes on its own. Upstream errors pass through verbatim and never
/// become one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidToken,
    TokenNotFound,
    TokenInactive,
    TokenExpired,
    ProjectInactive,
    RateLimitExceeded,
    QuotaExceeded,
    /// A project or token budget cannot fit the call (or a stream reached it).
    BudgetExceeded,
    MethodNotAllowed,
    EndpointNotFound,
    ParamNotAllowed,
    OriginNotAllowed,
    UpstreamNotAllowed,
    UpstreamUnreachable,
    UpstreamTimeout,
    /// The upstream's circuit breaker is open, or its concurrency limit is reached.
    UpstreamUnavailable,
    PayloadTooLarge,
    HeadersTooLarge,
    UnsupportedMediaType,
    /// The client stopped sending its body.
    RequestTimeout,
    InvalidRequest,
    Unauthorized,
    NotFound,
    Conflict,
    LimitsUnavailable,
    InternalError,
}

/// The family an error belongs to; rendered as OpenAI or Anthropic `error.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    InvalidRequest,
    Api,
    Overloaded,
}

impl ErrorCode {
    /// HTTP status, the `code` string and the error family, in one place.
    pub const fn spec(self) -> (u16, &'static str, ErrorKind) {
        use ErrorCode::*;
        use ErrorKind as K;
        match self {
            InvalidToken => (401, "invalid_token", K::Authentication),
            TokenNotFound => (401, "token_not_found", K::Authentication),
            TokenInactive => (401, "token_inactive", K::Authentication),
            TokenExpired => (401, "token_expired", K::Authentication),
            ProjectInactive => (403, "project_inactive", K::Permission),
            RateLimitExceeded => (429, "rate_limit_exceeded", K::RateLimit),
            QuotaExceeded => (429, "quota_exceeded", K::RateLimit),
            BudgetExceeded => (429, "budget_exceeded", K::RateLimit),
            MethodNotAllowed => (405, "method_not_allowed", K::InvalidRequest),
            EndpointNotFound => (404, "endpoint_not_found", K::NotFound),
            ParamNotAllowed => (400, "param_not_allowed", K::InvalidRequest),
            OriginNotAllowed => (403, "origin_not_allowed", K::Permission),
            UpstreamNotAllowed => (403, "upstream_not_allowed", K::Permission),
            UpstreamUnreachable => (502, "upstream_unreachable", K::Api),
            UpstreamTimeout => (504, "upstream_timeout", K::Api),
            UpstreamUnavailable => (503, "upstream_unavailable", K::Overloaded),
            PayloadTooLarge => (413, "payload_too_large", K::InvalidRequest),
            HeadersTooLarge => (431, "headers_too_large", K::InvalidRequest),
            UnsupportedMediaType => (415, "unsupported_media_type", K::InvalidRequest),
            RequestTimeout => (408, "request_timeout", K::InvalidRequest),
            InvalidRequest => (400, "invalid_request", K::InvalidRequest),
            Unauthorized => (401, "unauthorized", K::Authentication),
            NotFound => (404, "not_found", K::NotFound),
            Conflict => (409, "conflict", K::InvalidRequest),
            LimitsUnavailable => (503, "limits_unavailable", K::Overloaded),
            InternalError => (500, "internal_error", K::Api),
        }
    }

    pub const fn status(self) -> u16 {
        self.spec().0
    }

    pub const fn as_str(self) -> &'static str {
        self.spec().1
    }

    pub const fn kind(self) -> ErrorKind {
        self.spec().2
    }
}

impl ErrorKind {
    /// `error.type` in the OpenAI envelope.
    pub const fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Api => "api_error",
            ErrorKind::Overloaded => "server_error",
        }
    }

    /// `error.type` on Anthropic routes (DESIGN §13).
    pub const fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Api => "api_error",
            ErrorKind::Overloaded => "overloaded_error",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

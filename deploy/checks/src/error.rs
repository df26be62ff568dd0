//! The one error type of the checks.

use std::path::PathBuf;

use crate::gotmpl::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {source}")]
    Template { path: String, source: TemplateError },
}

impl CheckError {
    pub fn parse(path: impl Into<String>, message: impl ToString) -> Self {
        Self::Parse {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

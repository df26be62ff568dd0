//! Where the deployment files live and how they are read.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::CheckError;

/// The workspace root (this crate is `deploy/checks`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `root()/relative`.
pub fn path(relative: &str) -> PathBuf {
    root().join(relative)
}

pub fn read(relative: &str) -> Result<String, CheckError> {
    let path = path(relative);
    std::fs::read_to_string(&path).map_err(|source| CheckError::Io { path, source })
}

pub fn json(relative: &str) -> Result<Value, CheckError> {
    serde_json::from_str(&read(relative)?).map_err(|e| CheckError::parse(relative, e))
}

/// One YAML document as JSON (keys must be strings, as in every file we ship).
pub fn yaml(relative: &str) -> Result<Value, CheckError> {
    yaml_str(relative, &read(relative)?)
}

pub fn yaml_str(name: &str, text: &str) -> Result<Value, CheckError> {
    serde_norway::from_str::<Value>(text).map_err(|e| CheckError::parse(name, e))
}

/// Every non-empty document of a multi-document YAML stream.
pub fn yaml_documents(name: &str, text: &str) -> Result<Vec<Value>, CheckError> {
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| CheckError::parse(name, e))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

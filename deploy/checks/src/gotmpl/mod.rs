//! A renderer for the subset of Go's `text/template` (with Helm's functions) that the chart
//! uses, so the chart renders in CI where no `helm` binary is installed. Unsupported syntax is
//! an error, never silently ignored; `tests/deploy/helm_cli.rs` compares it with real Helm
//! where one is available.

mod ast;
mod eval;
mod funcs;
mod lexer;
mod parse;
pub mod value;

pub use eval::TemplateSet;
pub use parse::{parse, Parsed};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("parse error at line {line}: {message}")]
    Parse { line: usize, message: String },
    #[error("template {template} line {line}: {message}")]
    Exec {
        template: String,
        line: usize,
        message: String,
    },
}

/// Parses and runs one self-contained template.
pub fn render(src: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
    let parsed = parse(src)?;
    let set = TemplateSet {
        defines: parsed.defines,
    };
    set.execute("inline", &parsed.body, data)
}

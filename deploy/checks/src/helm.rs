//! Renders a chart the way `helm template` does: values coalesced over `values.yaml`, every
//! `templates/*` file that does not start with `_` executed with the built-in objects, named
//! templates shared across files, `NOTES.txt` rendered apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::gotmpl::{self, value::helm_numbers, TemplateSet};
use crate::{files, CheckError};

#[derive(Debug)]
pub struct Chart {
    pub dir: PathBuf,
    pub name: String,
    meta: Value,
    pub default_values: Value,
    /// File name (under `templates/`) to source.
    templates: BTreeMap<String, String>,
    set: TemplateSet,
}

#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub is_upgrade: bool,
}

impl Default for Release {
    fn default() -> Self {
        Self {
            name: "gw".to_owned(),
            namespace: "llm".to_owned(),
            is_upgrade: false,
        }
    }
}

/// What one file of `templates/` rendered to.
#[derive(Debug, Clone)]
pub struct RenderedFile {
    pub name: String,
    pub text: String,
}

#[derive(Debug)]
pub struct Rendered {
    pub files: Vec<RenderedFile>,
    pub notes: String,
}

fn read(path: &Path) -> Result<String, CheckError> {
    std::fs::read_to_string(path).map_err(|source| CheckError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Helm's coalescing: maps merge key by key, a `null` deletes the key, anything else replaces.
pub fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out: Map<String, Value> = b.clone();
            for (k, v) in o {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = out.get(k).map_or_else(|| v.clone(), |old| merge(old, v));
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        (_, o) => o.clone(),
    }
}

impl Chart {
    pub fn load(dir: &Path) -> Result<Self, CheckError> {
        let chart_file = dir.join("Chart.yaml");
        let meta = files::yaml_str(&chart_file.display().to_string(), &read(&chart_file)?)?;
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| CheckError::parse("Chart.yaml", "no name"))?
            .to_owned();
        let values_file = dir.join("values.yaml");
        let default_values = helm_numbers(files::yaml_str(
            &values_file.display().to_string(),
            &read(&values_file)?,
        )?);
        let mut templates = BTreeMap::new();
        let mut set = TemplateSet::default();
        let tdir = dir.join("templates");
        let entries = std::fs::read_dir(&tdir).map_err(|source| CheckError::Io {
            path: tdir.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| CheckError::Io {
                    path: tdir.clone(),
                    source,
                })?
                .path();
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let src = read(&path)?;
            let parsed = gotmpl::parse(&src).map_err(|source| CheckError::Template {
                path: format!("templates/{file}"),
                source,
            })?;
            set.defines.extend(parsed.defines);
            templates.insert(file, src);
        }
        Ok(Self {
            dir: dir.to_owned(),
            name,
            meta,
            default_values,
            templates,
            set,
        })
    }

    /// The values Helm would use with `-f` for each of `overrides`, in order.
    pub fn values(&self, overrides: &[Value]) -> Value {
        overrides
            .iter()
            .fold(self.default_values.clone(), |acc, o| {
                merge(&acc, &helm_numbers(o.clone()))
            })
    }

    fn chart_object(&self) -> Value {
        let field = |k: &str| self.meta.get(k).cloned().unwrap_or(Value::Null);
        json!({
            "Name": field("name"),
            "Version": field("version"),
            "AppVersion": field("appVersion"),
            "Description": field("description"),
            "Type": field("type"),
            "APIVersion": field("apiVersion"),
        })
    }

    pub fn render(&self, values: &Value, release: &Release) -> Result<Rendered, CheckError> {
        let base = format!("{}/templates", self.name);
        let top = |file: &str| {
            json!({
                "Values": values,
                "Release": {
                    "Name": release.name,
                    "Namespace": release.namespace,
                    "Service": "Helm",
                    "IsInstall": !release.is_upgrade,
                    "IsUpgrade": release.is_upgrade,
                    "Revision": if release.is_upgrade { 2 } else { 1 },
                },
                "Chart": self.chart_object(),
                "Template": {"Name": format!("{base}/{file}"), "BasePath": base},
            })
        };
        let mut set = TemplateSet {
            defines: self.set.defines.clone(),
        };
        // `include (print $.Template.BasePath "/x.yaml") .` reads a whole file by its path.
        for (file, src) in &self.templates {
            let parsed = gotmpl::parse(src).map_err(|source| CheckError::Template {
                path: format!("templates/{file}"),
                source,
            })?;
            set.defines.insert(format!("{base}/{file}"), parsed.body);
        }
        let mut files = Vec::new();
        let mut notes = String::new();
        for file in self.templates.keys() {
            if file.starts_with('_') {
                continue;
            }
            let nodes = set
                .defines
                .get(&format!("{base}/{file}"))
                .cloned()
                .unwrap_or_default();
            let text =
                set.execute(file, &nodes, &top(file))
                    .map_err(|source| CheckError::Template {
                        path: format!("templates/{file}"),
                        source,
                    })?;
            if file == "NOTES.txt" {
                notes = text;
            } else {
                files.push(RenderedFile {
                    name: file.clone(),
                    text,
                });
            }
        }
        Ok(Rendered { files, notes })
    }
}

impl Rendered {
    /// Every Kubernetes object rendered, in file order.
    pub fn objects(&self) -> Result<Vec<Value>, CheckError> {
        let mut out = Vec::new();
        for file in &self.files {
            out.extend(files::yaml_documents(
                &format!("templates/{}", file.name),
                &file.text,
            )?);
        }
        Ok(out)
    }
}

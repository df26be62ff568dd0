//! Executes parsed templates over a JSON value, with Go's scoping of variables and Helm's
//! `include`/`tpl`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ast::{Arg, Command, Node, Pipeline};
use super::value::{print, truthy};
use super::{funcs, parse, TemplateError};

const MAX_DEPTH: usize = 64;

/// Named templates (`define`) shared by every file of a chart.
#[derive(Debug, Default)]
pub struct TemplateSet {
    pub defines: BTreeMap<String, Vec<Node>>,
}

struct Exec<'a> {
    set: &'a TemplateSet,
    name: &'a str,
    depth: usize,
    /// Variable stack; `$` is first.
    vars: Vec<(String, Value)>,
}

fn rerr(name: &str, line: usize, message: impl Into<String>) -> TemplateError {
    TemplateError::Exec {
        template: name.to_owned(),
        line,
        message: message.into(),
    }
}

impl TemplateSet {
    /// Runs `nodes` with `data` as both `.` and `$`.
    pub fn execute(
        &self,
        name: &str,
        nodes: &[Node],
        data: &Value,
    ) -> Result<String, TemplateError> {
        self.execute_at(name, nodes, data, 0)
    }

    fn execute_at(
        &self,
        name: &str,
        nodes: &[Node],
        data: &Value,
        depth: usize,
    ) -> Result<String, TemplateError> {
        if depth > MAX_DEPTH {
            return Err(rerr(name, 0, "templates nest too deep"));
        }
        let mut exec = Exec {
            set: self,
            name,
            depth,
            vars: vec![("$".to_owned(), data.clone())],
        };
        let mut out = String::new();
        exec.nodes(nodes, data, &mut out)?;
        Ok(out)
    }

    fn include(&self, name: &str, data: &Value, depth: usize) -> Result<String, TemplateError> {
        let nodes = self
            .defines
            .get(name)
            .ok_or_else(|| rerr(name, 0, format!("no template \"{name}\"")))?;
        self.execute_at(name, nodes, data, depth + 1)
    }
}

impl Exec<'_> {
    fn nodes(
        &mut self,
        nodes: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        for node in nodes {
            self.node(node, dot, out)?;
        }
        Ok(())
    }

    /// Runs `body` in a nested scope: variables it declares end with it.
    fn scoped(
        &mut self,
        body: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        let mark = self.vars.len();
        let result = self.nodes(body, dot, out);
        self.vars.truncate(mark);
        result
    }

    fn node(&mut self, node: &Node, dot: &Value, out: &mut String) -> Result<(), TemplateError> {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(pipe) => {
                let v = self.pipeline(pipe, dot)?;
                if pipe.vars.is_empty() {
                    out.push_str(&print(&v));
                }
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let mark = self.vars.len();
                let mut taken = false;
                for (cond, body) in branches {
                    if truthy(&self.pipeline(cond, dot)?) {
                        self.scoped(body, dot, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    self.scoped(otherwise, dot, out)?;
                }
                self.vars.truncate(mark);
            }
            Node::With {
                branches,
                otherwise,
            } => {
                let mark = self.vars.len();
                let mut taken = false;
                for (cond, body) in branches {
                    let v = self.pipeline(cond, dot)?;
                    if truthy(&v) {
                        self.scoped(body, &v, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    self.scoped(otherwise, dot, out)?;
                }
                self.vars.truncate(mark);
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => self.range(pipe, body, otherwise, dot, out)?,
            Node::Template { name, pipe, line } => {
                let data = match pipe {
                    Some(p) => self.pipeline(p, dot)?,
                    None => Value::Null,
                };
                let text = self
                    .set
                    .include(name, &data, self.depth)
                    .map_err(|e| rerr(self.name, *line, e.to_string()))?;
                out.push_str(&text);
            }
        }
        Ok(())
    }

    fn range(
        &mut self,
        pipe: &Pipeline,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        let bare = Pipeline {
            vars: Vec::new(),
            ..pipe.clone()
        };
        let items: Vec<(Value, Value)> = match self.pipeline(&bare, dot)? {
            Value::Array(a) => a
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i as i64), v))
                .collect(),
            Value::Object(o) => o.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
            Value::Null => Vec::new(),
            other => {
                return Err(rerr(
                    self.name,
                    pipe.line,
                    format!("range can't iterate over {other}"),
                ))
            }
        };
        if items.is_empty() {
            return self.scoped(otherwise, dot, out);
        }
        for (key, item) in items {
            let mark = self.vars.len();
            match pipe.vars.as_slice() {
                [] => {}
                [v] => self.vars.push((v.clone(), item.clone())),
                [k, v] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), item.clone()));
                }
                _ => return Err(rerr(self.name, pipe.line, "too many range variables")),
            }
            let result = self.nodes(body, &item, out);
            self.vars.truncate(mark);
            result?;
        }
        Ok(())
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut value: Option<Value> = None;
        for command in &pipe.commands {
            value = Some(self.command(command, dot, value, pipe.line)?);
        }
        let value = value.unwrap_or(Value::Null);
        for name in &pipe.vars {
            if pipe.assign {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| {
                        rerr(self.name, pipe.line, format!("undefined variable {name}"))
                    })?;
                slot.1 = value.clone();
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(
        &mut self,
        command: &Command,
        dot: &Value,
        piped: Option<Value>,
        line: usize,
    ) -> Result<Value, TemplateError> {
        let (first, rest) = command
            .args
            .split_first()
            .ok_or_else(|| rerr(self.name, line, "empty command"))?;
        let Arg::Func(name) = first else {
            if !rest.is_empty() || piped.is_some() {
                return Err(rerr(self.name, line, "can't give argument to non-function"));
            }
            return self.arg(first, dot, line);
        };
        match name.as_str() {
            "and" | "or" => {
                // Short-circuits like Go 1.18+: the piped value, if any, is the last operand.
                if rest.is_empty() && piped.is_none() {
                    return Err(rerr(self.name, line, format!("{name} needs arguments")));
                }
                let want = name == "or";
                let mut last = Value::Null;
                for arg in rest {
                    last = self.arg(arg, dot, line)?;
                    if truthy(&last) == want {
                        return Ok(last);
                    }
                }
                Ok(piped.unwrap_or(last))
            }
            _ => {
                let mut args = rest
                    .iter()
                    .map(|a| self.arg(a, dot, line))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(piped);
                self.call(name, args, line)
            }
        }
    }

    fn call(&mut self, name: &str, args: Vec<Value>, line: usize) -> Result<Value, TemplateError> {
        match name {
            "include" => {
                let [Value::String(tpl), data] = args.as_slice() else {
                    return Err(rerr(self.name, line, "include wants a name and a context"));
                };
                let text = self
                    .set
                    .include(tpl, data, self.depth)
                    .map_err(|e| rerr(self.name, line, e.to_string()))?;
                Ok(Value::String(text))
            }
            "tpl" => {
                let [Value::String(src), data] = args.as_slice() else {
                    return Err(rerr(self.name, line, "tpl wants a string and a context"));
                };
                let parsed = parse::parse(src)?;
                let text = self
                    .set
                    .execute_at(self.name, &parsed.body, data, self.depth + 1)?;
                Ok(Value::String(text))
            }
            _ => funcs::call(name, args).map_err(|m| rerr(self.name, line, m)),
        }
    }

    fn arg(&mut self, arg: &Arg, dot: &Value, line: usize) -> Result<Value, TemplateError> {
        Ok(match arg {
            Arg::Dot => dot.clone(),
            Arg::Field(fields) => self.walk(dot.clone(), fields, line)?,
            Arg::Var(name, fields) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| rerr(self.name, line, format!("undefined variable {name}")))?;
                self.walk(v, fields, line)?
            }
            Arg::Func(name) => self.call(name, Vec::new(), line)?,
            Arg::Str(s) => Value::String(s.clone()),
            Arg::Int(n) => Value::from(*n),
            Arg::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Null,
            Arg::Sub(pipe, fields) => {
                let v = self.pipeline(pipe, dot)?;
                self.walk(v, fields, line)?
            }
        })
    }

    /// `.a.b` on a value: a missing map key is nil; a field of nil is an error, as in Helm.
    fn walk(&self, mut v: Value, fields: &[String], line: usize) -> Result<Value, TemplateError> {
        for field in fields {
            v = match v {
                Value::Object(mut o) => o.remove(field).unwrap_or(Value::Null),
                Value::Null => {
                    return Err(rerr(
                        self.name,
                        line,
                        format!("nil pointer evaluating interface {{}}.{field}"),
                    ))
                }
                other => {
                    return Err(rerr(
                        self.name,
                        line,
                        format!("can't evaluate field {field} in {other}"),
                    ))
                }
            };
        }
        Ok(v)
    }
}

//! The template functions the chart uses: Go's builtins and the Sprig/Helm functions, with
//! their argument order (`default DEFAULT GIVEN`, `trimSuffix SUFFIX S`, …).

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::value::{json_numbers, kind, print, quote, truthy, Kind};

type Args = Vec<Value>;

fn arity(name: &str, args: &Args, n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("{name} wants {n} arguments, got {}", args.len()))
    }
}

fn int_of(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => Ok(s.trim().parse().unwrap_or(0)),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Null => Ok(0),
        other => Err(format!("cannot convert {other} to int")),
    }
}

fn str_of(v: &Value) -> String {
    print(v)
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(usize::try_from(n).unwrap_or(0));
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// Helm's `toYaml`: JSON numbers, sorted keys, no trailing newline.
fn to_yaml(v: &Value) -> Result<String, String> {
    let yaml = serde_norway::to_string(&json_numbers(v)).map_err(|e| e.to_string())?;
    Ok(yaml.trim_end_matches('\n').to_owned())
}

/// Go's `eq`/`lt` refuse to compare an int with a float or a string with a number.
fn comparable(a: &Value, b: &Value) -> Result<(), String> {
    let (ka, kb) = (kind(a), kind(b));
    if ka == kb || ka == Kind::Nil || kb == Kind::Nil {
        Ok(())
    } else {
        Err(format!(
            "incompatible types for comparison: {ka:?} and {kb:?}"
        ))
    }
}

fn eq(args: &Args) -> Result<bool, String> {
    let (first, rest) = args
        .split_first()
        .ok_or_else(|| "eq needs arguments".to_owned())?;
    for other in rest {
        comparable(first, other)?;
        if first == other {
            return Ok(true);
        }
    }
    Ok(false)
}

fn order(name: &str, args: &Args) -> Result<std::cmp::Ordering, String> {
    arity(name, args, 2)?;
    comparable(&args[0], &args[1])?;
    match (&args[0], &args[1]) {
        (Value::String(a), Value::String(b)) => Ok(a.cmp(b)),
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            a.partial_cmp(&b).ok_or_else(|| "NaN".to_owned())
        }
        _ => Err(format!("{name}: values cannot be ordered")),
    }
}

fn arith(name: &str, args: &Args) -> Result<Value, String> {
    arity(name, args, 2)?;
    let (a, b) = (int_of(&args[0])?, int_of(&args[1])?);
    let r = match name {
        "add" => a.checked_add(b),
        "sub" => a.checked_sub(b),
        "mul" => a.checked_mul(b),
        "div" => a.checked_div(b),
        _ => None,
    };
    r.map(Value::from)
        .ok_or_else(|| format!("{name}: arithmetic error"))
}

fn dict(args: &Args) -> Result<Value, String> {
    if !args.len().is_multiple_of(2) {
        return Err("dict wants key/value pairs".to_owned());
    }
    let mut map = Map::new();
    for pair in args.chunks(2) {
        map.insert(str_of(&pair[0]), pair[1].clone());
    }
    Ok(Value::Object(map))
}

fn index(args: &Args) -> Result<Value, String> {
    let (first, keys) = args
        .split_first()
        .ok_or_else(|| "index needs arguments".to_owned())?;
    let mut cur = first.clone();
    for key in keys {
        cur = match (&cur, key) {
            (Value::Object(o), k) => o.get(&str_of(k)).cloned().unwrap_or(Value::Null),
            (Value::Array(a), Value::Number(_)) => {
                let i = usize::try_from(int_of(key)?).map_err(|e| e.to_string())?;
                a.get(i)
                    .cloned()
                    .ok_or_else(|| format!("index {i} out of range"))?
            }
            (Value::Null, _) => return Err("index of untyped nil".to_owned()),
            (other, _) => return Err(format!("cannot index {other}")),
        };
    }
    Ok(cur)
}

/// `printf` with the verbs the chart uses: `%s %v %d %q %%`.
fn printf(args: &Args) -> Result<Value, String> {
    let (fmt, rest) = args
        .split_first()
        .ok_or_else(|| "printf needs a format".to_owned())?;
    let fmt = str_of(fmt);
    let mut out = String::new();
    let mut rest = rest.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars
            .next()
            .ok_or_else(|| "printf: dangling %".to_owned())?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = rest
            .next()
            .ok_or_else(|| format!("printf: missing argument for %{verb}"))?;
        match verb {
            's' | 'v' => out.push_str(&print(arg)),
            'd' => out.push_str(&int_of(arg)?.to_string()),
            'q' => out.push_str(&quote(&str_of(arg))),
            other => return Err(format!("printf: verb %{other} is not supported")),
        }
    }
    Ok(Value::String(out))
}

/// Go's `print`: a space between operands when neither is a string.
fn go_print(args: &Args) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::String(_));
        if i > 0 && !is_str(arg) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&print(arg));
    }
    out
}

pub fn call(name: &str, args: Args) -> Result<Value, String> {
    let s = |i: usize| args.get(i).map(str_of).unwrap_or_default();
    Ok(match name {
        "not" => {
            arity(name, &args, 1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "eq" => Value::Bool(eq(&args)?),
        "ne" => {
            arity(name, &args, 2)?;
            Value::Bool(!eq(&args)?)
        }
        "lt" => Value::Bool(order(name, &args)?.is_lt()),
        "le" => Value::Bool(order(name, &args)?.is_le()),
        "gt" => Value::Bool(order(name, &args)?.is_gt()),
        "ge" => Value::Bool(order(name, &args)?.is_ge()),
        "empty" => {
            arity(name, &args, 1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "default" => match args.len() {
            1 => args[0].clone(),
            2 if truthy(&args[1]) => args[1].clone(),
            2 => args[0].clone(),
            _ => return Err("default wants 1 or 2 arguments".to_owned()),
        },
        "required" => {
            arity(name, &args, 2)?;
            match &args[1] {
                Value::Null => return Err(s(0)),
                Value::String(v) if v.is_empty() => return Err(s(0)),
                v => v.clone(),
            }
        }
        "fail" => return Err(s(0)),
        "ternary" => {
            arity(name, &args, 3)?;
            if truthy(&args[2]) {
                args[0].clone()
            } else {
                args[1].clone()
            }
        }
        "quote" => Value::String(
            args.iter()
                .filter(|v| !v.is_null())
                .map(|v| quote(&str_of(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => Value::String(format!("'{}'", s(0))),
        "toString" => Value::String(s(0)),
        "int" | "int64" => Value::from(int_of(args.first().unwrap_or(&Value::Null))?),
        "add" | "sub" | "mul" | "div" => arith(name, &args)?,
        "len" => {
            arity(name, &args, 1)?;
            let n = match &args[0] {
                Value::String(v) => v.len(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                other => return Err(format!("len of {other}")),
            };
            Value::from(n as i64)
        }
        "printf" => printf(&args)?,
        "print" => Value::String(go_print(&args)),
        "indent" => {
            arity(name, &args, 2)?;
            Value::String(indent(int_of(&args[0])?, &s(1)))
        }
        "nindent" => {
            arity(name, &args, 2)?;
            Value::String(format!("\n{}", indent(int_of(&args[0])?, &s(1))))
        }
        "trim" => Value::String(s(0).trim().to_owned()),
        "trunc" => {
            arity(name, &args, 2)?;
            let n = usize::try_from(int_of(&args[0])?).unwrap_or(0);
            Value::String(s(1).chars().take(n).collect())
        }
        "trimSuffix" => Value::String(s(1).strip_suffix(&s(0)).map_or(s(1), str::to_owned)),
        "trimPrefix" => Value::String(s(1).strip_prefix(&s(0)).map_or(s(1), str::to_owned)),
        "replace" => {
            arity(name, &args, 3)?;
            Value::String(s(2).replace(&s(0), &s(1)))
        }
        "contains" => Value::Bool(s(1).contains(&s(0))),
        "hasPrefix" => Value::Bool(s(1).starts_with(&s(0))),
        "hasSuffix" => Value::Bool(s(1).ends_with(&s(0))),
        "lower" => Value::String(s(0).to_lowercase()),
        "upper" => Value::String(s(0).to_uppercase()),
        "join" => {
            arity(name, &args, 2)?;
            let items = match &args[1] {
                Value::Array(a) => a.iter().map(str_of).collect::<Vec<_>>(),
                other => vec![str_of(other)],
            };
            Value::String(items.join(&s(0)))
        }
        "b64enc" => Value::String(base64::engine::general_purpose::STANDARD.encode(s(0))),
        "sha256sum" => {
            let digest = Sha256::digest(s(0).as_bytes());
            Value::String(digest.iter().map(|b| format!("{b:02x}")).collect())
        }
        "toYaml" => Value::String(to_yaml(args.first().unwrap_or(&Value::Null))?),
        "toJson" => Value::String(
            serde_json::to_string(&json_numbers(args.first().unwrap_or(&Value::Null)))
                .map_err(|e| e.to_string())?,
        ),
        "dict" => dict(&args)?,
        "list" => Value::Array(args),
        "index" => index(&args)?,
        "hasKey" => {
            arity(name, &args, 2)?;
            match &args[0] {
                Value::Object(o) => Value::Bool(o.contains_key(&s(1))),
                _ => return Err("hasKey wants a map".to_owned()),
            }
        }
        "kindIs" => {
            arity(name, &args, 2)?;
            let k = match kind(&args[1]) {
                Kind::Nil => "invalid",
                Kind::Bool => "bool",
                Kind::Int => "int",
                Kind::Float => "float64",
                Kind::String => "string",
                Kind::List => "slice",
                Kind::Map => "map",
            };
            Value::Bool(s(0) == k)
        }
        other => return Err(format!("function \"{other}\" not defined")),
    })
}

//! Go's view of JSON values: truthiness, `fmt.Sprint` printing, number kinds.
//!
//! Helm reads values through JSON, so every number in `.Values` is a float64, while numbers
//! written in a template are ints. Values keep that distinction: [`helm_numbers`] turns value
//! numbers into floats, and the printer formats floats the way Go's `%v` does (`1e+06`).

use serde_json::{Map, Number, Value};

/// Go's `if`: false, 0, nil and empty strings, lists and maps are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Makes every number a float64, as Helm's JSON round trip of values does.
pub fn helm_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(Value::Number(n), Value::Number),
        Value::Array(a) => Value::Array(a.into_iter().map(helm_numbers).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, helm_numbers(v))).collect())
        }
        other => other,
    }
}

/// Turns whole floats back into integers, as Go's JSON encoder prints them (for `toYaml`).
pub fn json_numbers(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(f as i64),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(json_numbers).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), json_numbers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".to_owned()
        } else if f > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. `1.5e6`; Go switches to
    // exponent form from 1e+06 on when printing the shortest representation.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

fn number(n: &Number) -> String {
    if n.is_f64() {
        n.as_f64().map(go_float).unwrap_or_default()
    } else {
        n.to_string()
    }
}

/// `fmt.Sprint` of one value; nil prints as empty (Helm's rendering of `<no value>`).
pub fn print(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(inner).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => print_map(o),
    }
}

fn inner(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        other => print(other),
    }
}

fn print_map(o: &Map<String, Value>) -> String {
    let parts: Vec<String> = o.iter().map(|(k, v)| format!("{k}:{}", inner(v))).collect();
    format!("map[{}]", parts.join(" "))
}

/// Go's `%q` for strings.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The kind Go's comparison functions see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nil,
    Bool,
    Int,
    Float,
    String,
    List,
    Map,
}

pub fn kind(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Nil,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Int,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::List,
        Value::Object(_) => Kind::Map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1000000.0), "1e+06");
        assert_eq!(go_float(1500000.0), "1.5e+06");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(123456.5), "123456.5");
    }
}

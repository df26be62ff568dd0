//! The HTTP side: one awc request per command, errors as one line.

use std::time::Duration;

use awc::http::Method;
use serde_json::Value;

use super::ClientOptions;

pub struct Api<'a> {
    options: &'a ClientOptions,
    token: &'a str,
    client: awc::Client,
}

impl<'a> Api<'a> {
    pub fn new(options: &'a ClientOptions) -> Result<Self, String> {
        let token = options
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("no management token: set LLM_PROXY_MANAGEMENT_TOKEN or pass --token")?;
        // awc's TLS connector (https URLs) needs a process-wide crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish();
        Ok(Self {
            options,
            token,
            client,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.options.url.trim_end_matches('/'))
    }

    /// Sends the request; a 2xx answer's JSON (`Null` for 204), else the error as one line.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let url = self.url(path);
        let req = self
            .client
            .request(method.clone(), &url)
            .insert_header(("Authorization", format!("Bearer {}", self.token)));
        let sent = match body {
            Some(body) => req.send_json(body).await,
            None => req.send().await,
        };
        let mut res = sent.map_err(|e| {
            format!(
                "cannot reach the management API at {}: {e}",
                self.options.url
            )
        })?;
        let bytes = res
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .map_err(|e| format!("cannot read the answer of {method} {path}: {e}"))?;
        let status = res.status();
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&bytes).chars().take(200).collect())
            })
        };
        if status.is_success() {
            return Ok(json);
        }
        Err(describe_error(status.as_u16(), &json))
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.send(Method::GET, path, None).await
    }
}

/// `404 not_found: project not found` (with the field for a 400).
fn describe_error(status: u16, body: &Value) -> String {
    let error = &body["error"];
    match (error["code"].as_str(), error["message"].as_str()) {
        (Some(code), Some(message)) => match error["param"].as_str() {
            Some(param) if status == 400 => format!("{status} {code} ({param}): {message}"),
            _ => format!("{status} {code}: {message}"),
        },
        _ if status == 401 => "401: the management token was refused".to_owned(),
        _ => format!("the management API answered {status}: {body}"),
    }
}

/// Query string of the non-empty pairs, values percent-encoded.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path segment the user typed (an id): only safe characters pass.
pub fn segment(value: &str) -> Result<&str, String> {
    let value = value.trim();
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!("`{value}` is not an id"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_are_one_line() {
        let body = json!({"error": {"code": "invalid_request", "message": "bad", "param": "name"}});
        assert_eq!(
            describe_error(400, &body),
            "400 invalid_request (name): bad"
        );
        let body =
            json!({"error": {"code": "not_found", "message": "project not found", "param": null}});
        assert_eq!(
            describe_error(404, &body),
            "404 not_found: project not found"
        );
    }

    #[test]
    fn query_strings() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(query(&[("a", Some("x y".into())), ("b", None)]), "?a=x%20y");
        assert!(segment("../x").is_err());
    }
}

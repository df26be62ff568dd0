//! What crosses the gateway in each direction. Upstream never sees the client's credential,
//! hop-by-hop headers, client-IP headers, cookies or the browser origin; the project's key is
//! set in the provider's auth style. Downstream gets the upstream's headers minus hop-by-hop.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use llm_proxy_core::SecretString;
use llm_proxy_platform::settings::AuthStyle;

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const CLIENT_IP: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-original-forwarded-for",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "forwarded",
    "via",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "true-client-ip",
    "fastly-client-ip",
    "x-envoy-external-address",
    "x-azure-clientip",
];

/// Replaced or recomputed by the gateway.
const GATEWAY_OWNED: &[&str] = &[
    "host",
    "content-length",
    "authorization",
    "x-api-key",
    "api-key",
    "cookie",
    "origin",
    "expect",
    "accept-encoding",
    "x-request-id",
];

fn named_in_connection(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("connection")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn dropped_upstream(name: &str, also: &[String]) -> bool {
    HOP_BY_HOP.contains(&name)
        || CLIENT_IP.contains(&name)
        || GATEWAY_OWNED.contains(&name)
        || name.starts_with("x-llm-proxy-")
        || also.iter().any(|a| a == name)
}

/// The headers sent upstream, the project's key included.
pub fn upstream_request(
    client: &HeaderMap,
    auth: AuthStyle,
    key: &SecretString,
) -> Vec<(HeaderName, HeaderValue)> {
    let also = named_in_connection(client);
    let mut out: Vec<(HeaderName, HeaderValue)> = client
        .iter()
        .filter(|(name, _)| !dropped_upstream(name.as_str(), &also))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    // Bodies are recorded for events and usage: ask for them uncompressed.
    out.push((
        HeaderName::from_static("accept-encoding"),
        HeaderValue::from_static("identity"),
    ));
    let (name, value) = match auth {
        AuthStyle::Bearer => ("authorization", format!("Bearer {}", key.expose())),
        AuthStyle::XApiKey => ("x-api-key", key.expose().to_owned()),
        AuthStyle::ApiKey => ("api-key", key.expose().to_owned()),
        AuthStyle::None => return out,
    };
    if let Ok(mut value) = HeaderValue::from_str(&value) {
        value.set_sensitive(true);
        out.push((HeaderName::from_static(name), value));
    } else {
        tracing::warn!("the project's provider key is not a valid header value");
    }
    out
}

/// The upstream's response headers as the client gets them.
pub fn downstream_response(upstream: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let also = named_in_connection(upstream);
    upstream
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !HOP_BY_HOP.contains(&name)
                && name != "content-length"
                && !also.iter().any(|a| a == name)
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;

    fn names(headers: &[(HeaderName, HeaderValue)]) -> Vec<String> {
        headers.iter().map(|(n, _)| n.as_str().to_owned()).collect()
    }

    #[test]
    fn client_credentials_and_ip_headers_never_go_upstream() {
        let req = TestRequest::default()
            .insert_header(("authorization", "Bearer wt_client"))
            .insert_header(("x-api-key", "wt_client"))
            .insert_header(("api-key", "wt_client"))
            .insert_header(("x-forwarded-for", "1.2.3.4"))
            .insert_header(("x-real-ip", "1.2.3.4"))
            .insert_header(("forwarded", "for=1.2.3.4"))
            .insert_header(("cf-connecting-ip", "1.2.3.4"))
            .insert_header(("true-client-ip", "1.2.3.4"))
            .insert_header(("connection", "keep-alive, x-custom-hop"))
            .insert_header(("x-custom-hop", "1"))
            .insert_header(("cookie", "a=b"))
            .insert_header(("anthropic-beta", "a,b"))
            .insert_header(("content-type", "application/json"))
            .to_http_request();
        let out = upstream_request(
            req.headers(),
            AuthStyle::Bearer,
            &SecretString::new("sk-project"),
        );
        let names = names(&out);
        for gone in [
            "x-api-key",
            "api-key",
            "x-forwarded-for",
            "x-real-ip",
            "forwarded",
            "cf-connecting-ip",
            "true-client-ip",
            "connection",
            "x-custom-hop",
            "cookie",
        ] {
            assert!(!names.contains(&gone.to_owned()), "{gone} was forwarded");
        }
        assert!(names.contains(&"anthropic-beta".to_owned()));
        let auth: Vec<_> = out.iter().filter(|(n, _)| n == "authorization").collect();
        assert_eq!(auth.len(), 1);
        assert_eq!(auth[0].1, "Bearer sk-project");
        assert!(out
            .iter()
            .all(|(_, v)| !v.to_str().unwrap_or("").contains("wt_client")));
    }

    #[test]
    fn auth_styles() {
        let empty = HeaderMap::new();
        let key = SecretString::new("k-1");
        let out = upstream_request(&empty, AuthStyle::XApiKey, &key);
        assert!(out.iter().any(|(n, v)| n == "x-api-key" && v == "k-1"));
        let out = upstream_request(&empty, AuthStyle::ApiKey, &key);
        assert!(out.iter().any(|(n, v)| n == "api-key" && v == "k-1"));
    }
}

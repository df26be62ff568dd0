//! What may be looked up and what may be stored (issue: GET/HEAD when the upstream allows,
//! POST only when the request opts in; `s-maxage` > `max-age` > the configured default;
//! `no-store`/`private` respected; `Vary: *` never stored).

use std::time::Duration;

use actix_web::http::header::{HeaderMap, CACHE_CONTROL, VARY};
use actix_web::http::Method;
use headers::{CacheControl, Header, Vary};
use llm_proxy_platform::settings::CacheSettings;

/// The `Cache-Control` of a header map, if it has a parseable one.
pub fn cache_control(headers: &HeaderMap) -> Option<CacheControl> {
    let values: Vec<http_1::HeaderValue> = headers
        .get_all(CACHE_CONTROL)
        .filter_map(|v| http_1::HeaderValue::from_bytes(v.as_bytes()).ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    CacheControl::decode(&mut values.iter()).ok()
}

/// What a request lets the cache do.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestPlan {
    /// Neither look up nor store; the `Cache-Status` `fwd` reason.
    Bypass(&'static str),
    Cacheable {
        /// Look up first (false: `no-cache`, go to the upstream and store the fresh answer).
        lookup: bool,
        /// The request opted in with a TTL of its own.
        opt_in: Option<Duration>,
    },
}

fn request_ttl(cc: &CacheControl) -> Option<Duration> {
    let ttl = cc
        .s_max_age()
        .or_else(|| cc.public().then(|| cc.max_age()).flatten())?;
    (!ttl.is_zero()).then_some(ttl)
}

pub fn plan_request(method: &Method, headers: &HeaderMap) -> RequestPlan {
    let cc = cache_control(headers);
    if cc.as_ref().is_some_and(CacheControl::no_store) {
        return RequestPlan::Bypass("request");
    }
    let opt_in = cc.as_ref().and_then(request_ttl);
    let revalidate = cc
        .as_ref()
        .is_some_and(|cc| cc.no_cache() || cc.max_age() == Some(Duration::ZERO));
    if *method == Method::GET || *method == Method::HEAD {
        return RequestPlan::Cacheable {
            lookup: !revalidate,
            opt_in,
        };
    }
    if *method == Method::POST && opt_in.is_some() {
        return RequestPlan::Cacheable {
            lookup: !revalidate,
            opt_in,
        };
    }
    RequestPlan::Bypass("method")
}

/// Lower-cased, sorted `Vary` names; `None` for `Vary: *` (never stored).
pub fn vary_names(headers: &HeaderMap) -> Option<Vec<String>> {
    let values: Vec<http_1::HeaderValue> = headers
        .get_all(VARY)
        .filter_map(|v| http_1::HeaderValue::from_bytes(v.as_bytes()).ok())
        .collect();
    if values.is_empty() {
        return Some(Vec::new());
    }
    let vary = Vary::decode(&mut values.iter()).ok()?;
    if vary.is_any() {
        return None;
    }
    let mut names: Vec<String> = vary
        .iter_strs()
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    Some(names)
}

/// How long an answer may be kept, or `None` when it must not be stored. GET/HEAD answers
/// need the upstream's consent (`public`, `s-maxage` or `max-age`); opted-in POSTs need only
/// the absence of a refusal.
pub fn response_ttl(
    status: u16,
    response: &HeaderMap,
    opt_in: Option<Duration>,
    settings: &CacheSettings,
) -> Option<Duration> {
    if status != 200 && status != 203 {
        return None;
    }
    let cc = cache_control(response);
    if let Some(cc) = &cc {
        // `no-cache` (revalidate before reuse) is how live streams are marked, OpenAI's too; a
        // request that opted in asked to reuse the answer anyway.
        if cc.no_store() || cc.private() || (cc.no_cache() && opt_in.is_none()) {
            return None;
        }
    }
    vary_names(response)?;
    let from_response = cc
        .as_ref()
        .and_then(|cc| cc.s_max_age().or_else(|| cc.max_age()));
    let upstream_allows = cc
        .as_ref()
        .is_some_and(|cc| cc.public() || from_response.is_some());
    if opt_in.is_none() && !upstream_allows {
        return None;
    }
    let ttl = from_response
        .or(opt_in)
        .unwrap_or(Duration::from_secs(settings.default_ttl_secs))
        .min(Duration::from_secs(settings.max_ttl_secs));
    (!ttl.is_zero()).then_some(ttl)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut req = TestRequest::default();
        for (k, v) in pairs {
            req = req.append_header((*k, *v));
        }
        req.to_http_request().headers().clone()
    }

    #[test]
    fn post_needs_an_opt_in() {
        assert_eq!(
            plan_request(&Method::POST, &headers(&[])),
            RequestPlan::Bypass("method")
        );
        // max-age alone is the client's own freshness wish, not consent to a shared cache.
        assert_eq!(
            plan_request(&Method::POST, &headers(&[("cache-control", "max-age=60")])),
            RequestPlan::Bypass("method")
        );
        let plan = plan_request(
            &Method::POST,
            &headers(&[("cache-control", "public, max-age=60")]),
        );
        assert_eq!(
            plan,
            RequestPlan::Cacheable {
                lookup: true,
                opt_in: Some(Duration::from_secs(60))
            }
        );
        let plan = plan_request(
            &Method::POST,
            &headers(&[("cache-control", "s-maxage=30, max-age=60, public")]),
        );
        assert!(
            matches!(plan, RequestPlan::Cacheable { opt_in: Some(d), .. } if d == Duration::from_secs(30))
        );
        assert_eq!(
            plan_request(
                &Method::POST,
                &headers(&[("cache-control", "no-store, public, max-age=60")])
            ),
            RequestPlan::Bypass("request")
        );
        assert_eq!(
            plan_request(&Method::DELETE, &headers(&[])),
            RequestPlan::Bypass("method")
        );
    }

    #[test]
    fn get_is_looked_up_unless_the_client_wants_a_fresh_answer() {
        assert!(matches!(
            plan_request(&Method::GET, &headers(&[])),
            RequestPlan::Cacheable { lookup: true, .. }
        ));
        assert!(matches!(
            plan_request(&Method::GET, &headers(&[("cache-control", "no-cache")])),
            RequestPlan::Cacheable { lookup: false, .. }
        ));
    }

    #[test]
    fn ttl_prefers_s_maxage_then_max_age_then_the_default() {
        let s = CacheSettings::default();
        let ttl = |pairs: &[(&str, &str)], opt_in| response_ttl(200, &headers(pairs), opt_in, &s);
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(
            ttl(&[("cache-control", "max-age=10, s-maxage=20")], None),
            secs(20)
        );
        assert_eq!(ttl(&[("cache-control", "max-age=10")], None), secs(10));
        assert_eq!(
            ttl(&[("cache-control", "public")], None),
            secs(s.default_ttl_secs)
        );
        // GET without the upstream's consent: not stored.
        assert_eq!(ttl(&[], None), None);
        // Opted-in POST: the request's TTL unless the upstream names one.
        assert_eq!(ttl(&[], secs(60)), secs(60));
        assert_eq!(ttl(&[("cache-control", "max-age=5")], secs(60)), secs(5));
        assert_eq!(ttl(&[("cache-control", "no-store")], secs(60)), None);
        assert_eq!(
            ttl(&[("cache-control", "private, max-age=9")], secs(60)),
            None
        );
        assert_eq!(ttl(&[("vary", "*")], secs(60)), None);
        assert_eq!(ttl(&[("cache-control", "no-cache")], None), None);
        assert_eq!(ttl(&[("cache-control", "no-cache")], secs(60)), secs(60));
        assert_eq!(response_ttl(500, &headers(&[]), secs(60), &s), None);
        assert_eq!(
            ttl(&[("cache-control", "max-age=999999999")], None),
            secs(s.max_ttl_secs)
        );
    }

    #[test]
    fn vary_names_are_normalised() {
        assert_eq!(
            vary_names(&headers(&[
                ("vary", "Accept-Language, origin"),
                ("vary", "Accept")
            ]))
            .unwrap(),
            vec!["accept", "accept-language", "origin"]
        );
        assert!(vary_names(&headers(&[("vary", "*")])).is_none());
    }
}

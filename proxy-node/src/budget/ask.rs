//! What a call asks of its budgets before it is forwarded: its prompt, estimated from the
//! request body without a tokenizer (the hot path; settlement corrects it with the real
//! usage), and its output: exactly the `max_tokens` (`max_output_tokens`,
//! `max_completion_tokens`) it names, or else up to `budgets.default_output_tokens`. A stream
//! that names no limit is admitted with whatever output fits (it is ended at the budget); a
//! call that cannot be ended early must fit the default.

use chrono::{DateTime, Utc};
use llm_proxy_core::usage_cost::ModelPrice;
use llm_proxy_core::ErrorCode;
use llm_proxy_limits::BudgetAsk;
use llm_proxy_platform::settings::{BudgetSettings, PricingSettings};
use llm_proxy_platform::ApiError;
use serde_json::Value;

use super::BudgetFacts;
use crate::usage::estimate::is_generation;

/// Chat formats add a few tokens per message and for the reply's priming.
const PER_MESSAGE: u64 = 4;
const PRIMING: u64 = 3;
/// Bytes of prompt text per token assumed: below the usual 4 (English) so the estimate tends to
/// stay above the real count.
const BYTES_PER_TOKEN: u64 = 3;

/// The request facts the ask depends on.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub provider: &'a str,
    pub path: &'a str,
    pub json: Option<&'a Value>,
    pub model: Option<&'a str>,
    /// The client asked for a stream (`"stream": true`).
    pub stream: bool,
}

/// `Ok(None)` when neither the token nor its project has a budget. Refuses (429
/// `budget_exceeded`) a call for a model without a price when a cost budget applies: its cost
/// could not be counted.
pub fn ask(
    facts: &BudgetFacts,
    call: &Call<'_>,
    pricing: &PricingSettings,
    settings: &BudgetSettings,
    now: DateTime<Utc>,
) -> Result<Option<(BudgetAsk, Option<ModelPrice>)>, ApiError> {
    if !facts.any() {
        return Ok(None);
    }
    let project = facts.project_limit(now);
    let token = facts.token_limit(now);
    let price = call
        .model
        .and_then(|model| pricing.find(call.provider, model))
        .cloned();
    let cost_capped = [&project, &token]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| l.max_cost_nano_usd.is_some()));
    if let (true, None, Some(model)) = (cost_capped, &price, call.model) {
        return Err(ApiError::new(
            ErrorCode::BudgetExceeded,
            format!(
                "No price is configured for model `{model}`, so its cost cannot be counted \
                 against this budget."
            ),
        ));
    }
    let prompt_tokens = call.json.map_or(0, prompt_tokens);
    let (min_output, max_output) = if is_generation(call.path) {
        match call.json.and_then(requested_output) {
            Some(n) => (n, n),
            None if call.stream => (1, settings.default_output_tokens),
            None => (
                settings.default_output_tokens,
                settings.default_output_tokens,
            ),
        }
    } else {
        (0, 0)
    };
    let (input_price, output_price) = price.as_ref().map_or((0, 0), |p| {
        (p.input_nanos_per_token(), p.output_nanos_per_token())
    });
    let ask = BudgetAsk {
        project,
        token,
        prompt_tokens,
        prompt_cost_nano_usd: prompt_tokens.saturating_mul(input_price),
        min_output,
        max_output,
        output_nanos_per_token: output_price,
    };
    Ok(Some((ask, price)))
}

/// The output limit the request names, if any.
pub fn requested_output(json: &Value) -> Option<u64> {
    ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| json.get(*k).and_then(Value::as_u64))
}

/// Prompt tokens, estimated from the bytes of every string in the body except the model name
/// and binary payloads (images, audio, files are priced by the provider in other ways).
pub fn prompt_tokens(json: &Value) -> u64 {
    let mut bytes = 0u64;
    text_bytes(json, &mut bytes);
    let messages = ["messages", "input"]
        .iter()
        .filter_map(|k| json.get(*k).and_then(Value::as_array))
        .map(|m| m.len() as u64)
        .sum::<u64>();
    bytes.div_ceil(BYTES_PER_TOKEN) + messages * PER_MESSAGE + PRIMING
}

fn text_bytes(v: &Value, bytes: &mut u64) {
    match v {
        Value::String(s) if !s.starts_with("data:") => *bytes += s.len() as u64,
        Value::Array(items) => items.iter().for_each(|i| text_bytes(i, bytes)),
        Value::Object(map) => {
            for (key, value) in map {
                let skip = matches!(
                    key.as_str(),
                    "model"
                        | "image_url"
                        | "data"
                        | "file_data"
                        | "input_audio"
                        | "stream"
                        | "role"
                        | "type"
                );
                if !skip {
                    text_bytes(value, bytes);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use llm_proxy_core::budget::{Budget, BudgetPeriod};
    use serde_json::json;

    use super::*;

    fn facts(max_cost: Option<u64>) -> BudgetFacts {
        BudgetFacts {
            project: Some(Budget {
                period: BudgetPeriod::Month,
                max_tokens: Some(10_000),
                max_cost_nano_usd: max_cost,
            }),
            ..BudgetFacts::default()
        }
    }

    fn pricing() -> PricingSettings {
        PricingSettings {
            models: vec![ModelPrice {
                model: "gpt-4o-mini*".into(),
                provider: None,
                input: 0.15,
                output: 0.6,
                cached_input: None,
            }],
        }
    }

    fn call<'a>(json: &'a Value, stream: bool) -> Call<'a> {
        Call {
            provider: "openai",
            path: "/v1/chat/completions",
            json: Some(json),
            model: json.get("model").and_then(Value::as_str),
            stream,
        }
    }

    #[test]
    fn output_bounds_follow_the_request() {
        let settings = BudgetSettings::default();
        let now = Utc::now();
        let named = json!({"model": "gpt-4o-mini", "max_tokens": 50,
                           "messages": [{"role": "user", "content": "x".repeat(300)}]});
        let (a, price) = ask(
            &facts(None),
            &call(&named, false),
            &pricing(),
            &settings,
            now,
        )
        .unwrap()
        .unwrap();
        assert_eq!((a.min_output, a.max_output), (50, 50));
        assert_eq!(a.prompt_tokens, 100 + 4 + 3);
        assert_eq!(a.prompt_cost_nano_usd, 107 * 150);
        assert_eq!(a.output_nanos_per_token, 600);
        assert!(price.is_some());
        assert!(a.project.is_some() && a.token.is_none());

        let open = json!({"model": "gpt-4o-mini", "messages": []});
        let (a, _) = ask(&facts(None), &call(&open, true), &pricing(), &settings, now)
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.min_output, a.max_output),
            (1, 4096),
            "a stream can be cut"
        );
        let (a, _) = ask(
            &facts(None),
            &call(&open, false),
            &pricing(),
            &settings,
            now,
        )
        .unwrap()
        .unwrap();
        assert_eq!((a.min_output, a.max_output), (4096, 4096));

        let embeddings = Call {
            path: "/v1/embeddings",
            ..call(&open, false)
        };
        let (a, _) = ask(&facts(None), &embeddings, &pricing(), &settings, now)
            .unwrap()
            .unwrap();
        assert_eq!((a.min_output, a.max_output), (0, 0));
        assert!(ask(
            &BudgetFacts::default(),
            &call(&open, true),
            &pricing(),
            &settings,
            now
        )
        .unwrap()
        .is_none());
    }

    #[test]
    fn a_cost_budget_refuses_models_without_a_price() {
        let unpriced = json!({"model": "o3", "messages": []});
        let settings = BudgetSettings::default();
        let err = ask(
            &facts(Some(1_000)),
            &call(&unpriced, true),
            &pricing(),
            &settings,
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::BudgetExceeded);
        assert!(err.message.contains("`o3`"));
        assert!(ask(
            &facts(None),
            &call(&unpriced, true),
            &pricing(),
            &settings,
            Utc::now()
        )
        .is_ok());
    }

    #[test]
    fn prompts_count_text_not_images() {
        let with_image = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "abcdef"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", "A".repeat(9000))}}
        ]}]});
        assert_eq!(prompt_tokens(&with_image), 2 + 4 + 3);
        let anthropic = json!({"system": "sys", "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "data": "QUJD".repeat(1000)}}]}]});
        assert_eq!(prompt_tokens(&anthropic), 1 + 4 + 3);
        assert_eq!(requested_output(&json!({"max_output_tokens": 9})), Some(9));
    }
}

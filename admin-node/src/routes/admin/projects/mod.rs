//! Project pages.

pub mod activate;
pub mod create;
pub mod deactivate;
pub mod edit;
pub mod list;
pub mod revoke_tokens;
pub mod show;

use std::collections::BTreeMap;

use crate::error::AdminResult;
use crate::state::AdminState;
use crate::ui::UiForm;
use crate::validate;

/// Provider keys typed into `key_<provider>` fields (empty fields are left alone).
pub fn keys_from_form(
    state: &AdminState,
    form: &UiForm,
) -> AdminResult<BTreeMap<String, llm_proxy_core::SecretString>> {
    let typed: BTreeMap<String, String> = state
        .settings
        .providers
        .keys()
        .filter_map(|p| {
            form.get(&format!("key_{p}"))
                .map(|k| (p.clone(), k.to_owned()))
        })
        .collect();
    validate::provider_keys(&state.settings, None, Some(typed))
}

/// `budget_period` (empty: no budget), `budget_max_tokens`, `budget_max_cost_usd` and
/// `on_disconnect` from a form, checked like the API's `budget` object.
pub fn spend_from_form(form: &UiForm) -> AdminResult<llm_proxy_core::budget::SpendPolicy> {
    let mut budget = serde_json::Map::new();
    if let Some(period) = form.get("budget_period") {
        budget.insert("period".into(), period.into());
        let number = |name: &str| -> AdminResult<Option<serde_json::Value>> {
            form.get(name)
                .map(|v| {
                    serde_json::from_str::<serde_json::Number>(v)
                        .map(serde_json::Value::Number)
                        .map_err(|_| {
                            crate::error::AdminError::invalid(
                                name,
                                "Enter a number or leave it empty",
                            )
                        })
                })
                .transpose()
        };
        if let Some(tokens) = number("budget_max_tokens")? {
            budget.insert("max_tokens".into(), tokens);
        }
        if let Some(usd) = number("budget_max_cost_usd")? {
            budget.insert("max_cost_usd".into(), usd);
        }
    }
    let mut body = serde_json::Map::new();
    body.insert(
        "budget".into(),
        if budget.is_empty() {
            serde_json::Value::Null
        } else {
            budget.into()
        },
    );
    if let Some(policy) = form.get("on_disconnect") {
        body.insert("on_disconnect".into(), policy.into());
    }
    let body = validate::JsonObject::parse(body.into(), &["budget", "on_disconnect"])?;
    Ok(llm_proxy_core::budget::SpendPolicy {
        budget: body.budget("budget")?.flatten(),
        on_disconnect: body.disconnect_policy("on_disconnect")?.unwrap_or_default(),
    })
}

/// `rate_limit_rpm` from a form: empty is none.
pub fn rpm_from_form(form: &UiForm) -> AdminResult<Option<u32>> {
    match form.get("rate_limit_rpm") {
        None => Ok(None),
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| {
                crate::error::AdminError::invalid(
                    "rate_limit_rpm",
                    "Requests per minute must be a whole number",
                )
            })?;
            let n = validate::positive("rate_limit_rpm", n)?;
            Ok(Some(validate::rpm("rate_limit_rpm", n)?))
        }
    }
}

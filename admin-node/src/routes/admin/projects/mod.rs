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

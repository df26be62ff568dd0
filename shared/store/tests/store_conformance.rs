//! One conformance suite, run against each backend: `sqlite::<test>` and `postgres::<test>`.
//! Each test gets its own SQLite file or Postgres database, so they all run in parallel.

mod conformance;

macro_rules! conformance_suite {
    ($backend:ident: $($module:ident::$test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    use futures_util::FutureExt;
                    let h = crate::conformance::Harness::$backend().await;
                    let outcome = std::panic::AssertUnwindSafe(crate::conformance::$module::$test(&h))
                        .catch_unwind()
                        .await;
                    h.finish(outcome).await;
                }
            )*
        }
    };
}

macro_rules! for_each_backend {
    ($($tests:tt)*) => {
        conformance_suite!(sqlite: $($tests)*);
        conformance_suite!(postgres: $($tests)*);
    };
}

for_each_backend!(
    projects::projects_create_and_get,
    projects::projects_get_unknown_is_not_found,
    projects::projects_create_rejects_empty_name,
    projects::projects_list_filters_and_pages,
    projects::projects_list_carries_key_hints,
    projects::projects_update_fields_and_keys,
    projects::projects_unique_names_conflict,
    projects::provider_keys_round_trip,
    projects::provider_keys_not_stored_in_clear,
    projects::wrong_encryption_key_fails_verification,
    projects::projects_deactivate_without_revoking_tokens,
    projects::projects_deactivate_revoking_tokens,
    projects::projects_concurrent_creates_one_wins,
    tokens::tokens_create_get_and_find_by_hash,
    tokens::tokens_create_checks_the_project,
    tokens::tokens_duplicate_hash_conflicts,
    tokens::tokens_list_filters,
    tokens::tokens_update_fields,
    tokens::tokens_revoke_is_idempotent,
    tokens::tokens_bulk_revoke,
    tokens::tokens_record_usage_batches,
    tokens::tokens_expire,
    tokens::tokens_prune,
    tokens::tokens_concurrent_usage_batches_add_up,
    audit::audit_insert_and_get,
    audit::audit_filters,
    audit::audit_pagination,
    audit::audit_rows_for_every_mutation,
    usage::usage_same_event_counts_once,
    usage::usage_groups_by_project_and_token,
    usage::usage_window_filters,
    usage::usage_concurrent_redelivery_counts_once,
    usage::usage_series_by_hour_and_day,
    usage::usage_breakdown_and_cells,
    usage::usage_prune_forgets_old_event_ids,
    budgets::budgets_on_projects_round_trip,
    budgets::budgets_on_tokens_round_trip,
    budgets::spend_reads_the_ledger_per_period,
    harness::ping_and_backend,
);

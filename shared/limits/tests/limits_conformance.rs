//! One conformance suite, run against each implementation: `memory::<test>` (one node, in
//! process) and `redis::<test>` (three independent `RedisAdmission` instances sharing one Redis
//! under a fresh key prefix, standing for three proxy nodes).

mod conformance;

macro_rules! conformance_suite {
    ($backend:ident: $($module:ident::$test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    use futures_util::FutureExt;
                    let h = crate::conformance::Harness::$backend();
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
        conformance_suite!(memory: $($tests)*);
        conformance_suite!(redis: $($tests)*);
    };
}

for_each_backend!(
    quota::quota_is_exact_under_concurrency,
    quota::seeded_count_is_respected,
    quota::store_seed_never_lowers_the_counter,
    rate::token_rate_is_exact_under_concurrency,
    rate::project_rate_is_shared_by_its_tokens,
    rate::limits_of_other_tokens_are_independent,
    rate::window_slides_and_rejections_count_nowhere,
    rate::zero_rate_admits_nothing,
    order::checks_run_in_order,
    order::rejected_requests_count_nowhere,
    order::admitted_reports_the_tighter_rate,
    order::unlimited_requests_pass_without_headers,
    usage::drain_reports_admitted_requests_once,
    budget::budget_admits_exactly_what_fits_under_concurrency,
    budget::failed_calls_are_refunded,
    budget::streams_extend_until_the_budget_is_spent,
    budget::the_ledger_spend_is_the_floor,
    budget::token_and_project_budgets_both_apply,
    budget::cost_budgets_are_exact,
    budget::periods_are_counted_apart,
);

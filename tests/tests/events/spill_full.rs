//! Redis down long enough to fill the proxy's spill: calls still succeed, the events that do
//! not fit are dropped, and every drop is counted in the proxy's metrics (and logged); the
//! events that fit are replayed and delivered once Redis is back. Nothing is lost silently.

use std::time::Duration;

use llm_proxy_e2e::{metrics, spill, wait, Pipeline, PipelineOptions, Policy};

const CALLS: usize = 40;
/// Room for a handful of events (each is a couple of kilobytes).
const SPILL_BYTES: u64 = 16 * 1024;
const DELIVERED: Duration = Duration::from_secs(30);

#[actix_web::test]
async fn a_full_spill_counts_every_dropped_event_in_the_proxy_metrics() {
    let mut pipeline = Pipeline::start(PipelineOptions {
        policy: Policy::Degraded,
        persistent_redis: true,
        spill_max_bytes: Some(SPILL_BYTES),
    })
    .await;
    let dispatcher = pipeline.start_dispatcher("dispatcher-a", &[]).await;
    pipeline.redis().stop();
    let calls = pipeline.burst("spill-full", CALLS).await;
    let proxy = pipeline.proxy_url();
    let text = wait::until(Duration::from_secs(10), || async {
        let text = metrics::scrape(pipeline.client(), &proxy).await;
        (family_total(&text, "llm_proxy_events_written_total")
            + family_total(&text, "llm_proxy_events_dropped_total")
            >= CALLS as u64)
            .then_some(text)
    })
    .await
    .unwrap_or_else(|| panic!("the proxy did not handle every event of the outage"));
    let spilled = spill::request_ids(&pipeline.spill_dir()).len();
    let dropped = family_total(&text, "llm_proxy_events_dropped_total");
    let written = family_total(&text, "llm_proxy_events_written_total");
    println!(
        "Redis down, spill of {SPILL_BYTES} bytes: {CALLS} calls answered, {spilled} events \
         spilled; the proxy's /metrics: {written} written, {dropped} dropped"
    );
    assert!(
        spilled > 0 && spilled < CALLS,
        "the spill filled up: {spilled}"
    );
    assert!(
        pipeline.proxy_log().contains("event spill is full"),
        "the drops are logged"
    );

    pipeline.redis().start_again().await;
    let delivered = wait::until(DELIVERED, || async {
        let tally = pipeline.received().tally("file", &calls);
        (tally.unique >= spilled).then_some(tally)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the spilled events were not delivered: {}",
            pipeline.received().tally("file", &calls)
        )
    });
    dispatcher.wait_settled(DELIVERED).await;
    println!("after Redis is back: {delivered}");
    assert_eq!(
        delivered.unique, spilled,
        "what fit in the spill is delivered"
    );
    assert_eq!(
        delivered.unique as u64 + dropped,
        CALLS as u64,
        "every call is either delivered or counted as dropped in the proxy's metrics \
         ({} delivered, {dropped} counted as dropped)",
        delivered.unique
    );
    drop(dispatcher);
    pipeline.stop().await;
}

/// The sum of every series of counter `family` (`name` or `name{…}`) in a metrics page.
fn family_total(text: &str, family: &str) -> u64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

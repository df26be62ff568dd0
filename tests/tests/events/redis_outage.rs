//! The test's Redis stopped while the proxy keeps serving: every call succeeds, its event goes
//! to the proxy's local spill; Redis back: the spill is replayed and the dispatcher delivers
//! every event, none lost.

use std::collections::BTreeSet;
use std::time::Duration;

use llm_proxy_e2e::deliveries::SINKS;
use llm_proxy_e2e::{spill, wait, Pipeline, PipelineOptions, Policy};

const DELIVERED: Duration = Duration::from_secs(30);

#[actix_web::test]
async fn redis_down_while_the_proxy_serves_spills_every_event_and_replays_all_of_them() {
    let mut pipeline = Pipeline::start(PipelineOptions {
        // Admission needs Redis; degraded keeps serving without it.
        policy: Policy::Degraded,
        // The stream and the consumer groups survive the restart, as in production.
        persistent_redis: true,
        ..PipelineOptions::default()
    })
    .await;
    let dispatcher = pipeline.start_dispatcher("dispatcher-a", &[]).await;
    let before = pipeline.burst("redis-before", 20).await;
    pipeline
        .wait_received(DELIVERED, "before the outage", &before, |r| {
            r.complete(&before)
        })
        .await;
    // Acknowledged too, so no delivery straddles the outage.
    dispatcher.wait_settled(DELIVERED).await;

    pipeline.redis().stop();
    let during = pipeline.burst("redis-down", 40).await;
    let spill_dir = pipeline.spill_dir();
    let spilled = wait::until(Duration::from_secs(10), || async {
        let spilled: BTreeSet<String> = spill::request_ids(&spill_dir).into_iter().collect();
        during
            .iter()
            .all(|id| spilled.contains(id))
            .then_some(spilled)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the outage's events are not all in the spill ({}): {:?}",
            spill_dir.display(),
            spill::request_ids(&spill_dir)
        )
    });
    println!(
        "Redis down: {} calls answered, {} events in the proxy's spill",
        during.len(),
        spilled.len()
    );
    assert_eq!(pipeline.received().tally("file", &during).unique, 0);

    pipeline.redis().start_again().await;
    let all: Vec<String> = [before, during].concat();
    pipeline
        .wait_received(DELIVERED, "every event after Redis is back", &all, |r| {
            r.complete(&all)
        })
        .await;
    let settled = dispatcher.wait_settled(DELIVERED).await;
    println!("after the outage:\n{}", settled.summary());
    let received = pipeline.received();
    let republished = settled.stream_length() - all.len() as u64;
    println!(
        "{} stream entries for {} calls:\n{}",
        settled.stream_length(),
        all.len(),
        received.summary(&all)
    );
    // Zero lost, in every sink.
    received.assert_complete(&all, republished);
    for sink in SINKS {
        assert_eq!(settled.number(sink, "dlq_length"), 0, "{sink}");
        assert_eq!(
            settled.number(sink, "delivered"),
            settled.stream_length(),
            "{sink}"
        );
    }
    let drained = wait::until(Duration::from_secs(10), || async {
        spill::request_ids(&spill_dir).is_empty().then_some(())
    })
    .await;
    assert!(
        drained.is_some(),
        "the spill still holds {} events after the replay",
        spill::request_ids(&spill_dir).len()
    );
    drop(dispatcher);
    pipeline.stop().await;
}

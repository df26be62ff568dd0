//! Helicone down for a while (503 on every log): the other sinks keep receiving meanwhile,
//! `llm-proxy dispatcher status` shows Helicone's entries pending and retried, and once it is
//! back everything reaches it, nothing dead-lettered.

use std::time::Duration;

use llm_proxy_e2e::deliveries::SINKS;
use llm_proxy_e2e::{wait, Pipeline, PipelineOptions};
use llm_proxy_testkit::fake_sinks::FakeMode;

const DELIVERED: Duration = Duration::from_secs(20);
const OTHERS: [&str; 3] = ["file", "loki", "lunary"];

#[actix_web::test]
async fn a_sink_down_for_a_while_holds_up_no_other_and_gets_everything_once_back() {
    let pipeline = Pipeline::start(PipelineOptions::default()).await;
    let dispatcher = pipeline.start_dispatcher("dispatcher-a", &[]).await;
    let sinks = pipeline.sinks();
    let before = pipeline.burst("outage-before", 10).await;
    pipeline
        .wait_received(DELIVERED, "before the outage", &before, |r| {
            r.complete(&before)
        })
        .await;

    sinks.helicone.set_mode(FakeMode::Fail {
        status: 503,
        remaining: None,
    });
    let during = pipeline.burst("outage-during", 40).await;
    pipeline
        .wait_received(
            DELIVERED,
            "the other sinks during the outage",
            &during,
            |r| OTHERS.iter().all(|s| r.tally(s, &during).complete()),
        )
        .await;
    let status = wait::until(Duration::from_secs(10), || async {
        let status = dispatcher.status().await;
        let others_done = OTHERS
            .iter()
            .all(|s| status.number(s, "pending") == 0 && status.number(s, "lag") == 0);
        (others_done && status.number("helicone", "retried") >= 3).then_some(status)
    })
    .await
    .unwrap_or_else(|| panic!("Helicone's deliveries were not retried"));
    println!("during the Helicone outage:\n{}", status.summary());
    let pending = status.number("helicone", "pending");
    assert!(pending > 0, "a batch is held for retries");
    let waiting = pending + status.number("helicone", "lag");
    assert!(
        waiting >= during.len() as u64,
        "every event of the outage waits for Helicone, pending or not yet read: {waiting}"
    );
    assert_eq!(
        waiting + status.number("helicone", "delivered"),
        status.stream_length(),
        "every entry is delivered, pending or not yet read"
    );
    assert!(status.number("helicone", "failed") > 0);
    assert_eq!(status.number("helicone", "dlq_length"), 0);
    assert_eq!(
        pipeline.received().tally("helicone", &during).unique,
        0,
        "nothing gets through a 503"
    );

    sinks.helicone.recover();
    let after = pipeline.burst("outage-after", 10).await;
    let all: Vec<String> = [before, during, after].concat();
    pipeline
        .wait_received(DELIVERED, "every sink after the outage", &all, |r| {
            r.complete(&all)
        })
        .await;
    let settled = dispatcher.wait_settled(DELIVERED).await;
    println!("after the outage:\n{}", settled.summary());
    let received = pipeline.received();
    println!(
        "{} stream entries:\n{}",
        settled.stream_length(),
        received.summary(&all)
    );
    received.assert_complete(&all, settled.stream_length() - all.len() as u64);
    for sink in SINKS {
        assert_eq!(
            settled.number(sink, "delivered"),
            settled.stream_length(),
            "{sink}"
        );
        assert_eq!(settled.number(sink, "dlq_length"), 0, "{sink}");
    }
    assert!(
        sinks.helicone.requests() > sinks.helicone.accepted().len(),
        "the refused attempts reached the fake"
    );
    assert!(sinks.rejections().is_empty(), "{:?}", sinks.rejections());
    drop(dispatcher);
    pipeline.stop().await;
}

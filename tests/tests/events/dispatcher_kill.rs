//! A dispatcher killed with SIGKILL while its Loki, Lunary and Helicone deliveries are in
//! flight (stored by the vendor, answer not yet back); another dispatcher (another host, so
//! another consumer) takes over its unacknowledged entries. Every event reaches every sink,
//! none is lost, and the duplicates are exactly what was stored but not acknowledged (at most
//! one batch), each a copy the vendor recognises by its idempotency key.

use std::collections::BTreeMap;
use std::time::Duration;

use llm_proxy_e2e::deliveries::{Record, SINKS};
use llm_proxy_e2e::pipeline::{BATCH_SIZE, CLAIM_IDLE};
use llm_proxy_e2e::{wait, Pipeline, PipelineOptions};
use llm_proxy_testkit::fake_sinks::FakeMode;

const CALLS: usize = 60;
const LATER_CALLS: usize = 10;
const DELIVERED: Duration = Duration::from_secs(30);
const HTTP_SINKS: [&str; 3] = ["loki", "lunary", "helicone"];

#[actix_web::test]
async fn sigkill_of_a_dispatcher_mid_batch_loses_nothing_and_duplicates_at_most_that_batch() {
    let pipeline = Pipeline::start(PipelineOptions::default()).await;
    let sinks = pipeline.sinks();
    // Events first, so the first dispatcher's first read fills a whole batch.
    let ids = pipeline.burst("kill", CALLS).await;
    pipeline.wait_published(CALLS as u64).await;
    for fake in [&sinks.loki, &sinks.lunary, &sinks.helicone] {
        fake.set_mode(FakeMode::AcceptThenHang);
    }
    let mut first = pipeline
        .start_dispatcher(
            "dispatcher-a",
            &[
                ("LLM_PROXY_SINKS__LOKI__TIMEOUT_MS", "120000"),
                ("LLM_PROXY_SINKS__LUNARY__TIMEOUT_MS", "120000"),
                ("LLM_PROXY_SINKS__HELICONE__TIMEOUT_MS", "120000"),
            ],
        )
        .await;

    // The file sink is not held up by the three hanging ones.
    pipeline
        .wait_received(DELIVERED, "the file sink", &ids, |r| {
            r.tally("file", &ids).complete()
        })
        .await;
    let in_flight = wait::until(Duration::from_secs(10), || async {
        let received = pipeline.received();
        HTTP_SINKS
            .iter()
            .all(|s| !received.of(s).is_empty())
            .then_some(())
    })
    .await;
    assert!(
        in_flight.is_some(),
        "a delivery did not reach every fake:\n{}",
        pipeline.received().summary(&ids)
    );
    let before = first.status().await;
    println!("before the kill:\n{}", before.summary());
    for sink in HTTP_SINKS {
        // One batch in flight, and the next one read (and decoded) ahead while it was sent.
        let pending = before.number(sink, "pending");
        assert!(
            (BATCH_SIZE as u64..=2 * BATCH_SIZE as u64).contains(&pending),
            "{sink}: one batch in flight and at most one read ahead, {pending} pending"
        );
        assert_eq!(before.number(sink, "delivered"), 0, "{sink}");
    }
    assert!(before.number("file", "delivered") >= CALLS as u64);

    first.kill();
    for fake in [&sinks.loki, &sinks.lunary, &sinks.helicone] {
        fake.recover();
    }
    // Stored by the vendors, never acknowledged in Redis: these must come again.
    let stored_unacked: BTreeMap<&str, usize> = HTTP_SINKS
        .iter()
        .map(|s| (*s, pipeline.received().of(s).len()))
        .collect();
    println!("stored by the vendors but not acknowledged at the kill: {stored_unacked:?}");
    let second = pipeline.start_dispatcher("dispatcher-b", &[]).await;
    let later = pipeline.burst("kill-after", LATER_CALLS).await;
    let all: Vec<String> = ids.iter().chain(&later).cloned().collect();
    pipeline
        .wait_received(DELIVERED, "every sink after the takeover", &all, |r| {
            r.complete(&all)
        })
        .await;
    // Acknowledged everywhere: the taken-over batch was delivered again, not only the rest.
    let after = second.wait_settled(DELIVERED).await;
    println!("after the takeover:\n{}", after.summary());
    let received = pipeline.received();
    let republished = (after.stream_length() - all.len() as u64) as usize;
    println!(
        "delivered after SIGKILL mid-batch and takeover (claim idle {CLAIM_IDLE:?}, {} stream \
         entries):\n{}",
        after.stream_length(),
        received.summary(&all)
    );
    for sink in SINKS {
        let tally = received.tally(sink, &all);
        assert!(tally.complete(), "{tally}");
        assert!(tally.duplicates() <= BATCH_SIZE + republished, "{tally}");
        // Besides entries the proxy itself published twice (at-least-once publishing).
        let expected = stored_unacked.get(sink).copied().unwrap_or(0);
        assert!(
            (expected..=expected + republished).contains(&tally.duplicates()),
            "duplicates are what was stored but unacknowledged ({expected}): {tally}"
        );
        assert_copies_are_identical(sink, received.of(sink));
        assert_eq!(after.number(sink, "dlq_length"), 0, "{sink}");
    }
    assert!(sinks.rejections().is_empty(), "{:?}", sinks.rejections());
    for sink in HTTP_SINKS {
        assert_eq!(
            after.number(sink, "delivered"),
            after.stream_length(),
            "{sink}: the second dispatcher delivered the taken-over batch and the rest"
        );
    }
    assert!(
        second.log().contains("took over idle entries"),
        "the second dispatcher claimed the first one's entries"
    );
    drop(second);
    pipeline.stop().await;
}

/// Every copy of an event carries the same idempotency key and the same content, so the vendor
/// keeps one: Loki drops an entry identical in stream, timestamp and line; Lunary upserts runs
/// by `runId` (the event id); Helicone keys logs by `Helicone-Request-Id` (made from the event
/// id). The file sink cannot; its readers dedupe by `_meta.event_id`.
fn assert_copies_are_identical(sink: &str, records: &[Record]) {
    let mut copies: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for record in records {
        copies.entry(&record.event_id).or_default().push(record);
    }
    for (event_id, copies) in copies.iter().filter(|(_, c)| c.len() > 1) {
        let first = &copies[0].payload;
        for copy in &copies[1..] {
            let same = match sink {
                "loki" => {
                    (
                        &copy.payload["labels"],
                        &copy.payload["ts"],
                        &copy.payload["raw"],
                    ) == (&first["labels"], &first["ts"], &first["raw"])
                }
                _ => copy.payload == *first,
            };
            assert!(same, "{sink}: copies of {event_id} differ");
        }
    }
}

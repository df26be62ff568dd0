//! Calls through a proxy node reach all four sinks through Redis and a dispatcher, each with
//! the call's project, token, model, usage (streams too), status, timings and request id, and
//! with no client token or provider key anywhere.

use std::time::Duration;

use llm_proxy_e2e::calls::{ChatCall, Mode};
use llm_proxy_e2e::deliveries::SINKS;
use llm_proxy_e2e::file_sink;
use llm_proxy_e2e::manage::PROJECT_API_KEY;
use llm_proxy_e2e::{Pipeline, PipelineOptions};
use serde_json::Value;

use crate::fields::Expected;

const DELIVERED: Duration = Duration::from_secs(20);

#[actix_web::test]
async fn chat_calls_reach_file_loki_lunary_and_helicone_with_their_fields_and_no_secrets() {
    let pipeline = Pipeline::start(PipelineOptions::default()).await;
    let dispatcher = pipeline.start_dispatcher("dispatcher-a", &[]).await;
    let session = format!("e2e-session-{}", uuid::Uuid::new_v4().simple());
    let secret = pipeline.token().secret.clone();
    // A user pasting credentials into a prompt: they must not reach a sink either.
    let content = format!("my keys are {secret} and {PROJECT_API_KEY}");
    let calls: Vec<ChatCall> = [
        ("plain-0", Mode::Plain, 3),
        ("plain-1", Mode::Plain, 4),
        ("stream-0", Mode::Stream, 5),
        ("stream-1", Mode::Stream, 6),
        ("stream-usage-0", Mode::StreamWithUsage, 7),
    ]
    .into_iter()
    .map(|(name, mode, tokens)| ChatCall {
        request_id: format!("{name}-{}", uuid::Uuid::new_v4().simple()),
        session: Some(session.clone()),
        mode,
        content: content.clone(),
        tokens,
    })
    .collect();
    for call in &calls {
        let reply = pipeline.send(call).await;
        assert!(
            reply.is_upstream_success(),
            "{}: {}",
            call.request_id,
            reply.outcome()
        );
        if call.mode != Mode::Plain {
            assert!(reply.text().trim_end().ends_with("data: [DONE]"));
            // The gateway asks for usage itself and hides it from a client that did not.
            assert_eq!(
                reply.text().contains("\"prompt_tokens\""),
                call.mode == Mode::StreamWithUsage,
                "{}: {}",
                call.request_id,
                reply.text()
            );
        }
    }
    let ids: Vec<String> = calls.iter().map(|c| c.request_id.clone()).collect();
    pipeline
        .wait_received(DELIVERED, "every call in every sink", &ids, |r| {
            r.complete(&ids)
        })
        .await;
    let status = dispatcher.wait_settled(DELIVERED).await;
    let republished = status.stream_length() - ids.len() as u64;
    let received = pipeline.received();
    println!(
        "end to end ({} stream entries):\n{}",
        status.stream_length(),
        received.summary(&ids)
    );
    received.assert_complete(&ids, republished);
    assert!(
        pipeline.sinks().rejections().is_empty(),
        "{:?}",
        pipeline.sinks().rejections()
    );

    let expect = Expected {
        project: pipeline.project_id().to_owned(),
        token: pipeline.token().id.clone(),
        calls: calls
            .iter()
            .map(|c| (c.request_id.clone(), c.clone()))
            .collect(),
    };
    expect.file(&received, &pipeline, &session);
    expect.loki(&received, &pipeline);
    expect.lunary(&received);
    expect.helicone(&received);
    assert_no_secrets(&pipeline, &[&secret, PROJECT_API_KEY]);

    assert!(status.has_counters(), "{}", status.0);
    for sink in SINKS {
        assert_eq!(
            status.number(sink, "delivered"),
            status.stream_length(),
            "{sink}"
        );
        assert_eq!(status.number(sink, "dlq_length"), 0, "{sink}");
    }
    drop(dispatcher);
    pipeline.stop().await;
}

/// Neither secret in anything a sink received: files, push bodies, logs and their headers.
fn assert_no_secrets(pipeline: &Pipeline, secrets: &[&str]) {
    let mut payloads: Vec<(String, String)> = file_sink::session_files(&pipeline.file_dir())
        .into_iter()
        .map(|f| {
            let text: Vec<String> = f.lines.iter().map(Value::to_string).collect();
            (format!("file {}", f.relative.display()), text.join("\n"))
        })
        .collect();
    let sinks = pipeline.sinks();
    for (name, sink) in [
        ("loki", &sinks.loki),
        ("lunary", &sinks.lunary),
        ("helicone", &sinks.helicone),
    ] {
        for accepted in sink.accepted() {
            payloads.push((name.to_owned(), accepted.body.to_string()));
            payloads.push((format!("{name} headers"), format!("{:?}", accepted.headers)));
        }
    }
    for (place, payload) in &payloads {
        for secret in secrets {
            assert!(
                !payload.contains(secret),
                "a secret ({}…) reached {place}",
                &secret[..8]
            );
        }
    }
}

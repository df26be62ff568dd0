//! A fast fake OpenAI upstream for benchmarks: `POST /v1/chat/completions` answers a fixed JSON
//! completion, or an SSE stream when the body asks for `"stream":true`. The query parameters
//! `chunks` and `delay_ms` override the stream shape per request (the gateway forwards them).
//! Usage: `bench-upstream PORT [CHUNKS] [CHUNK_DELAY_MS] [WORKERS] [KEEP_ALIVE_SECS]`.
//! Keep-alive defaults to 75 s (nginx's default, and longer than the gateway's 60 s pool idle
//! time); with actix's own 5 s the gateway reuses connections the upstream already closed.

use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use futures_util::stream;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}"#;

#[derive(Clone, Copy)]
struct StreamShape {
    chunks: usize,
    delay: Duration,
}

async fn chat(req: HttpRequest, body: web::Bytes, shape: web::Data<StreamShape>) -> HttpResponse {
    let wants_stream = body
        .windows(b"\"stream\":true".len())
        .any(|w| w == b"\"stream\":true");
    if !wants_stream {
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(COMPLETION);
    }
    let shape = shape_for(req.query_string(), **shape);
    let events = stream::unfold(0usize, move |i| async move {
        if i > shape.chunks + 1 {
            return None;
        }
        if i > 0 && !shape.delay.is_zero() {
            tokio::time::sleep(shape.delay).await;
        }
        let data = if i < shape.chunks {
            format!("data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"finish_reason\":null}}]}}\n\n")
        } else if i == shape.chunks {
            "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":64,\"total_tokens\":76}}\n\n".to_owned()
        } else {
            "data: [DONE]\n\n".to_owned()
        };
        Some((Ok::<_, std::io::Error>(Bytes::from(data)), i + 1))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(events)
}

/// The default shape with `chunks=N` / `delay_ms=M` from the query applied.
fn shape_for(query: &str, default: StreamShape) -> StreamShape {
    let mut shape = default;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("chunks", v)) => shape.chunks = v.parse().unwrap_or(shape.chunks),
            Some(("delay_ms", v)) => {
                shape.delay = v.parse().map(Duration::from_millis).unwrap_or(shape.delay);
            }
            _ => {}
        }
    }
    shape
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(9999);
    let chunks: usize = args.next().and_then(|c| c.parse().ok()).unwrap_or(64);
    let delay_ms: u64 = args.next().and_then(|d| d.parse().ok()).unwrap_or(0);
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    let keep_alive: u64 = args.next().and_then(|k| k.parse().ok()).unwrap_or(75);
    let shape = StreamShape {
        chunks,
        delay: Duration::from_millis(delay_ms),
    };
    actix_rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shape))
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/v1/chat/completions", web::post().to(chat))
        })
        .workers(workers)
        // As providers' front ends do (nginx's `tcp_nodelay on`): without it a chunk written
        // while the previous one waits for its (delayed) ACK is held up to 40 ms on reused
        // connections, which is the gateway's case, not the direct client's.
        .tcp_nodelay(true)
        .keep_alive(Duration::from_secs(keep_alive))
        .backlog(4096)
        .max_connections(50_000)
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })
}

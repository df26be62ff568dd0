//! The `drain` disconnect policy: when a client leaves mid-stream, the rest of the upstream's
//! answer is still read (off any request, on the same worker) so the call's exact usage is
//! recorded and settled; nothing more is sent anywhere.

use std::pin::Pin;

use actix_web::body::MessageBody;

/// Whether a drain can run here: on an actix worker (an arbiter's local task set).
pub fn available() -> bool {
    actix_rt::Arbiter::try_current().is_some()
}

/// Reads `body` to its end in a local task; the body records its call when it ends, as it
/// would have for the client.
pub fn spawn<B>(mut body: B)
where
    B: MessageBody + Unpin + 'static,
{
    actix_rt::spawn(async move {
        loop {
            let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await;
            match next {
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    });
}

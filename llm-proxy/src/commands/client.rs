//! Runs a management-API client command on a small actix runtime (awc needs one).

use std::future::Future;

pub fn run<F, Fut>(command: F) -> Result<(), String>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    actix_rt::System::new().block_on(command())
}

//! Background load: a few loops sending chat calls until told to stop, keeping every reply.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::client::{self, Reply, Tally};

/// Calls in flight at any time while the load runs.
const LOOPS: usize = 4;

pub struct Load {
    stop: Rc<Cell<bool>>,
    replies: Rc<RefCell<Vec<Reply>>>,
    loops: Vec<actix_rt::task::JoinHandle<()>>,
}

impl Load {
    /// Starts sending to `base` with `secret`. Call inside an actix `System`.
    pub fn start(client: &awc::Client, base: &str, secret: &str) -> Self {
        let stop = Rc::new(Cell::new(false));
        let replies = Rc::new(RefCell::new(Vec::new()));
        let loops = (0..LOOPS)
            .map(|_| {
                let (client, base, secret) = (client.clone(), base.to_owned(), secret.to_owned());
                let (stop, replies) = (Rc::clone(&stop), Rc::clone(&replies));
                actix_rt::spawn(async move {
                    while !stop.get() {
                        let reply = client::chat(&client, &base, &secret).await;
                        replies.borrow_mut().push(reply);
                    }
                })
            })
            .collect();
        Self {
            stop,
            replies,
            loops,
        }
    }

    /// Stops after the calls in flight and answers what every call produced.
    pub async fn finish(self) -> Tally {
        self.stop.set(true);
        for handle in self.loops {
            let _ = handle.await;
        }
        Tally::of(self.replies.borrow().iter())
    }
}

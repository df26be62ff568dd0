//! Redis plumbing shared by every node: one [`KeySpace`] naming every key, connection helpers,
//! and the event stream codec and publisher (DESIGN §5).
//!
//! The proxy's logging actor calls [`publish_events`]; dispatchers read the same streams with
//! consumer groups and decode entries with [`decode_entry`]. Control events travel between
//! nodes on a pub/sub channel ([`RedisControlPublisher`], [`spawn_control_subscriber`]).

mod connection;
mod control;
mod events;
mod keyspace;

pub use connection::{
    blocking_connection, connection_manager, lazy_connection_manager, RedisConnectError,
};
pub use control::{spawn_control_subscriber, ControlSubscriber, RedisControlPublisher};
pub use events::{
    decode_entry, encode_event, publish_events, raw_event, DecodeError, PublishError, FIELD_EVENT,
    FIELD_EVENT_ID,
};
pub use keyspace::KeySpace;

pub mod client;
pub mod dispatcher;
pub mod migrate;
pub mod role;
pub mod up;

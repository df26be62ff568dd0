pub mod client;
pub mod migrate;
pub mod role;
pub mod up;

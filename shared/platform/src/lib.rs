//! What every node shares at runtime: settings, telemetry, the HTTP error envelope, provider-key
//! encryption, the control bus and the local event spill.

pub mod control_bus;
pub mod crypto;
pub mod http_error;
pub mod redis;
pub mod settings;
pub mod spill;
pub mod telemetry;

pub use control_bus::ControlBus;
pub use crypto::{Cipher, CryptoError, EncryptionKey};
pub use http_error::{ApiError, ErrorFlavor};
pub use settings::{LoadOptions, Settings, SettingsError};

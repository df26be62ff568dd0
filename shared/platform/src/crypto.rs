//! AES-256-GCM for provider keys at rest. Stored form: 12-byte nonce followed by ciphertext+tag.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

const NONCE_LEN: usize = 12;
pub const KEY_FILE_NAME: &str = "encryption.key";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("LLM_PROXY_ENCRYPTION_KEY must be standard base64 of exactly 32 bytes")]
    InvalidKey,
    #[error("cannot decrypt a stored provider key: LLM_PROXY_ENCRYPTION_KEY is not the key it was encrypted with")]
    Decrypt,
    #[error("cannot read or write the encryption key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The 32-byte deployment key. Never printed.
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    pub fn from_base64(value: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(value.trim())
            .map_err(|_| CryptoError::InvalidKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self(key))
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Embedded mode: reads `<data_dir>/encryption.key`, creating it (mode 0600) when absent.
    /// Returns whether it was generated now.
    pub fn load_or_generate(data_dir: &Path) -> Result<(Self, bool), CryptoError> {
        let path = data_dir.join(KEY_FILE_NAME);
        let io_err = |source| CryptoError::KeyFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(contents) => Ok((Self::from_base64(&contents)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io_err)?;
                let key = Self::generate();
                write_private(&path, key.to_base64().as_bytes()).map_err(io_err)?;
                Ok((key, true))
            }
            Err(e) => Err(io_err(e)),
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl Cipher {
    pub fn new(key: &EncryptionKey) -> Self {
        Self {
            aead: Aes256Gcm::new((&key.0).into()),
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and an in-memory buffer cannot fail.
        let ciphertext = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn decrypt(&self, stored: &[u8]) -> Result<String, CryptoError> {
        if stored.len() <= NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = stored.split_at(NONCE_LEN);
        let plain = self
            .aead
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let key = EncryptionKey::generate();
        let cipher = Cipher::new(&key);
        let stored = cipher.encrypt("sk-secret-value");
        assert!(!String::from_utf8_lossy(&stored).contains("sk-secret"));
        assert_eq!(cipher.decrypt(&stored).unwrap(), "sk-secret-value");
        let other = Cipher::new(&EncryptionKey::generate());
        assert!(matches!(other.decrypt(&stored), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn key_must_be_32_bytes_of_base64() {
        assert!(EncryptionKey::from_base64("not base64!").is_err());
        assert!(EncryptionKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        let key = EncryptionKey::generate();
        assert!(EncryptionKey::from_base64(&key.to_base64()).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn generated_key_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (first, generated) = EncryptionKey::load_or_generate(dir.path()).unwrap();
        assert!(generated);
        let mode = std::fs::metadata(dir.path().join(KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, generated) = EncryptionKey::load_or_generate(dir.path()).unwrap();
        assert!(!generated);
        assert_eq!(first.to_base64(), second.to_base64());
    }
}

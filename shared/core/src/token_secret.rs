//! Withering token secrets: `wt_` + 32 URL-safe base64 characters (192 random bits).
//! Only the SHA-256 hash of a secret is ever stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "wt_";
const RANDOM_BYTES: usize = 24;
const BODY_LEN: usize = 32; // 24 bytes in unpadded base64

/// A token secret whose shape has been checked. Holding one says nothing about whether it exists.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedToken {
    #[error("token does not start with the `wt_` prefix")]
    Prefix,
    #[error("token has the wrong length")]
    Length,
    #[error("token contains characters outside the URL-safe alphabet")]
    Alphabet,
}

impl TokenSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; RANDOM_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Checks prefix, length and alphabet without touching any store.
    pub fn parse(raw: &str) -> Result<Self, MalformedToken> {
        let body = raw
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(MalformedToken::Prefix)?;
        if body.len() != BODY_LEN {
            return Err(MalformedToken::Length);
        }
        if !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(MalformedToken::Alphabet);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Lower-case hex SHA-256: the only form that reaches storage.
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }

    /// `wt_abcd...wxyz`, safe for lists and logs.
    pub fn obfuscated(&self) -> String {
        obfuscate(&self.0)
    }
}

pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

pub fn obfuscate(secret: &str) -> String {
    match secret.strip_prefix(TOKEN_PREFIX) {
        Some(body) if body.len() >= 8 => {
            format!("{TOKEN_PREFIX}{}...{}", &body[..4], &body[body.len() - 4..])
        }
        _ => format!("{TOKEN_PREFIX}..."),
    }
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSecret({})", self.obfuscated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_ne!(a, b);
        assert_eq!(TokenSecret::parse(a.expose()).unwrap(), a);
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn malformed_tokens_are_rejected_by_shape() {
        let good = TokenSecret::generate();
        let body = &good.expose()[3..];
        assert_eq!(TokenSecret::parse(body), Err(MalformedToken::Prefix));
        assert_eq!(TokenSecret::parse("wt_short"), Err(MalformedToken::Length));
        let bad = format!("wt_{}!", &body[..31]);
        assert_eq!(TokenSecret::parse(&bad), Err(MalformedToken::Alphabet));
        let unicode = format!("wt_{}é", &body[..30]);
        assert!(TokenSecret::parse(&unicode).is_err());
    }

    #[test]
    fn hash_is_lower_case_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = TokenSecret::generate();
        assert!(!format!("{t:?}").contains(&t.expose()[10..20]));
    }
}

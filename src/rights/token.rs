//! Platform tokens: an authorization a platform passes in a hidden `token` field of a
//! command form. Security-sensitive.
//!
//! A token reads `xgb1.<id>.<secret>`: `id` (8 hex digits) finds the stored entry, and
//! `secret` (64 hex digits, 256 random bits from the operating system) proves it. Only
//! SHA-256 of the secret is stored: a secret of that entropy cannot be found from its
//! hash, so a slow password hash would add nothing. Hashes are compared in constant
//! time. A token is shown once, when it is made.

use std::io::Read;

use sha2::{Digest, Sha256};

const PREFIX: &str = "xgb1.";
/// The longest `token` field value read: a well-formed token is 78 bytes.
pub const MAX_TOKEN_BYTES: usize = 128;

/// The refusal of a request through a front door without a valid token.
pub fn needed() -> crate::failure::Failure {
    crate::failure::Failure::not_authorized(
        "a platform's token is needed (\"Authorization: Bearer <token>\"); the bridge's operator makes one with `platform new-token`",
    )
}

/// A token as made: its public id, the full token to hand to the platform, and the hash
/// to store.
pub struct NewToken {
    pub id: String,
    pub token: String,
    pub hash: [u8; 32],
}

/// `N` bytes of the operating system's randomness.
pub fn random<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Makes a token from the operating system's randomness.
pub fn generate() -> std::io::Result<NewToken> {
    let bytes = random::<36>()?;
    let id = hex(&bytes[..4]);
    let secret = hex(&bytes[4..]);
    Ok(NewToken {
        token: format!("{PREFIX}{id}.{secret}"),
        hash: hash(&secret),
        id,
    })
}

/// The id and secret of `token`, if it has a token's shape.
pub fn split(token: &str) -> Option<(&str, &str)> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let rest = token.trim().strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('.')?;
    let hexdigits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexdigits(id, 8) && hexdigits(secret, 64)).then_some((id, secret))
}

pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `secret` hashes to `stored`, in time that does not depend on where they
/// differ.
pub fn matches(secret: &str, stored: &[u8]) -> bool {
    let computed = hash(secret);
    if stored.len() != computed.len() {
        return false;
    }
    computed
        .iter()
        .zip(stored)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The bytes of lowercase hex (what [`hex`] writes; one spelling for each value).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2)
        || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_its_hash_and_nothing_else() {
        let made = generate().unwrap();
        let (id, secret) = split(&made.token).unwrap();
        assert_eq!(id, made.id);
        assert!(matches(secret, &made.hash));
        let other = generate().unwrap();
        assert_ne!(other.token, made.token);
        let (_, other_secret) = split(&other.token).unwrap();
        assert!(!matches(other_secret, &made.hash));
        assert!(!matches(secret, &made.hash[..31]));
    }

    #[test]
    fn only_a_tokens_shape_is_split() {
        let made = generate().unwrap();
        assert!(split(&format!("  {}\n", made.token)).is_some());
        for bad in [
            "",
            "xgb1.",
            "xgb1.1234abcd.",
            &made.token[..made.token.len() - 1],
            &made.token.replace("xgb1.", "xgb2."),
            &format!("{}0", made.token),
            &"x".repeat(10_000),
        ] {
            assert!(split(bad).is_none(), "{bad:?}");
        }
    }
}

//! Webhook signatures, as Standard Webhooks (standardwebhooks.com) has them, so that a
//! receiver can use any of its libraries or twenty lines of its own:
//!
//! - the secret reads `whsec_<base64 of 32 random bytes>`, shown once when set;
//! - a delivery carries `webhook-id` (the event's id), `webhook-timestamp` (Unix
//!   seconds) and `webhook-signature: v1,<base64 of HMAC-SHA256>`, the HMAC keyed with
//!   the secret's bytes over `<id>.<timestamp>.<body>`.
//!
//! A receiver recomputes the HMAC, compares in constant time, rejects a timestamp more
//! than a few minutes off (a replay), and keeps the ids it took (a duplicate).

use std::io::Read;

use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A new secret from the operating system's randomness.
pub fn generate() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(format!("{PREFIX}{}", base64(&bytes)))
}

/// The `webhook-signature` value of `body` for event `id` at `timestamp`; `None` for a
/// secret that is not one of ours.
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> Option<String> {
    let key = unbase64(secret.strip_prefix(PREFIX)?)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", base64(&mac.finalize().into_bytes())))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64, padded.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padding optional; `None` for anything else.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_signature_is_what_another_implementation_computes() {
        // The expected value was computed with Python's hmac, hashlib and base64 modules,
        // as a receiver would: b64encode(hmac.new(b64decode(secret[6:]), f"{id}.{ts}.{body}",
        // sha256).digest()).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485","type":"website_contact"}}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body).as_deref(),
            Some("v1,091dNlvcGddp8VWdCOLurCucWaq65m+aqPhEO+MXQ9o=")
        );
        assert_eq!(sign("no-prefix", "1", 1, b""), None);
    }

    #[test]
    fn secrets_are_fresh_and_readable() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert_eq!(unbase64(a.strip_prefix(PREFIX).unwrap()).unwrap().len(), 32);
    }

    proptest! {
        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(unbase64(&base64(&bytes)), Some(bytes));
        }
    }
}

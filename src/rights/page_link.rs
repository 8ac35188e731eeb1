//! The privacy page's one-time links: a user says `privacy link` and gets a link to
//! their privacy page on the HTTP listener, valid for [`LINK_SECS`], good once.
//!
//! A link names its user and its expiry and carries an HMAC-SHA256 of both under a key
//! drawn from the operating system's randomness when the bridge starts: it cannot be
//! guessed or altered, it needs no storage to check, and a restart voids every link
//! given before. That it is used once is for the listener to remember
//! ([`crate::http::page`]), until it expires.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::token::{hex, unhex};

/// How long a link may be used, in seconds.
pub const LINK_SECS: u64 = 600;
/// The path the links and the page are under.
pub const PATH: &str = "/privacy";
/// Longest link token read; a JID is at most 3,071 bytes.
pub const MAX_TOKEN_BYTES: usize = 2 * 3071 + 96;

/// What issues and checks links.
#[derive(Clone)]
pub struct PageLinks {
    /// Where users reach the listener (`https://game.example.org`), without a final `/`.
    base: String,
    key: [u8; 32],
}

impl std::fmt::Debug for PageLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret.
        f.debug_struct("PageLinks")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Why a link does not open the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not a link this bridge gave (or given before it restarted).
    Unknown,
    Expired,
}

impl PageLinks {
    /// Links under `base`, with a fresh key.
    pub fn new(base: &str) -> std::io::Result<PageLinks> {
        Ok(PageLinks::with_key(base, super::token::random()?))
    }

    pub fn with_key(base: &str, key: [u8; 32]) -> PageLinks {
        PageLinks {
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    fn mac(&self, user: &str, expires_ms: u64) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(b"xmpp-game-bridge privacy link\0");
        mac.update(user.as_bytes());
        mac.update(b"\0");
        mac.update(expires_ms.to_string().as_bytes());
        Some(mac)
    }

    /// A link for `user` (a bare JID) made at `now_ms` (milliseconds since the Unix
    /// epoch): its URL.
    pub fn issue(&self, user: &str, now_ms: u64) -> Option<String> {
        let expires = now_ms.saturating_add(LINK_SECS * 1000);
        let tag = self.mac(user, expires)?.finalize().into_bytes();
        Some(format!(
            "{}{PATH}/{}.{expires}.{}",
            self.base,
            hex(user.as_bytes()),
            hex(&tag)
        ))
    }

    /// The user a link's token (what follows `/privacy/`) is for, and when it expires.
    pub fn check(&self, token: &str, now_ms: u64) -> Result<(String, u64), LinkError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(LinkError::Unknown);
        }
        let mut parts = token.split('.');
        let (Some(user), Some(expires), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Unknown);
        };
        let user = unhex(user)
            .and_then(|u| String::from_utf8(u).ok())
            .ok_or(LinkError::Unknown)?;
        let expires: u64 = expires.parse().map_err(|_| LinkError::Unknown)?;
        let tag = unhex(tag).ok_or(LinkError::Unknown)?;
        self.mac(&user, expires)
            .ok_or(LinkError::Unknown)?
            .verify_slice(&tag)
            .map_err(|_| LinkError::Unknown)?;
        if expires <= now_ms {
            return Err(LinkError::Expired);
        }
        Ok((user, expires))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn links() -> PageLinks {
        PageLinks::with_key("https://game.example.test/", [7; 32])
    }

    fn token(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }

    #[test]
    fn a_link_opens_for_its_user_until_it_expires() {
        let url = links().issue("alice@example.test", 1_000_000).unwrap();
        assert!(
            url.starts_with("https://game.example.test/privacy/"),
            "{url}"
        );
        let (user, expires) = links().check(token(&url), 1_000_001).unwrap();
        assert_eq!(user, "alice@example.test");
        assert_eq!(expires, 1_000_000 + LINK_SECS * 1000);
        assert_eq!(links().check(token(&url), expires), Err(LinkError::Expired));
        // Another key (a restart) knows none of the links given before.
        let other = PageLinks::with_key("https://game.example.test", [8; 32]);
        assert_eq!(other.check(token(&url), 1_000_001), Err(LinkError::Unknown));
    }

    proptest! {
        /// Whatever is changed in a link, it opens nothing (or, for the expiry alone,
        /// nothing beyond what it said).
        #[test]
        fn an_altered_link_opens_nothing(at in 0usize..200, byte in any::<u8>()) {
            let url = links().issue("alice@example.test", 1_000_000).unwrap();
            let mut altered = token(&url).as_bytes().to_vec();
            let at = at % altered.len();
            prop_assume!(altered[at] != byte);
            altered[at] = byte;
            let altered = String::from_utf8_lossy(&altered).into_owned();
            prop_assert!(links().check(&altered, 1_000_001).is_err());
        }

        #[test]
        fn any_text_is_checked_without_panicking(text in ".{0,300}") {
            let _ = links().check(&text, 0);
        }
    }
}

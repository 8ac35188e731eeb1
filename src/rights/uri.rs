//! The one scheme policy for every URI a platform asks the bridge to pass on to a user:
//! a page (`open-url`'s `url`), a launch URI (`launch`'s `uri`), or a link to a game
//! (`invite`'s `join`, `publish-gaming`'s `uri`, which another client reads from the
//! user's PEP). Whatever the node, a URI is one token with a scheme (RFC 3986 §3.1), the
//! scheme is one the operator allows for that use, and a scheme that runs code or reads
//! the user's own device in a client ([`NEVER`]) is refused whatever any list says.
//!
//! Security-sensitive: keep it pure and table-tested.

use crate::failure::{quote, Failure};

/// Schemes never sent to a user, whatever the operator's lists say: they run script in
/// the client, or show or fetch something of the user's own device.
pub const NEVER: &[&str] = &[
    "javascript",
    "vbscript",
    "livescript",
    "data",
    "file",
    "blob",
    "filesystem",
    "about",
    "view-source",
    "jar",
    "ms-its",
    "mhtml",
];

/// Longest URI accepted.
pub const MAX_URI: usize = 2048;

/// What a URI is for, and so which schemes it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriUse<'a> {
    /// A page to open: `rights.url_schemes`.
    Page { pages: &'a [String] },
    /// A program to start: the platform's launch schemes.
    Launch { launch: &'a [String] },
    /// A link to join a game: a page or a launch URI of the platform.
    GameLink {
        pages: &'a [String],
        launch: &'a [String],
    },
}

impl UriUse<'_> {
    fn allows(&self, scheme: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|s| s == scheme);
        match self {
            UriUse::Page { pages } => listed(pages),
            UriUse::Launch { launch } => listed(launch),
            UriUse::GameLink { pages, launch } => listed(pages) || listed(launch),
        }
    }

    fn allowed(&self) -> Vec<&str> {
        let (a, b): (&[String], &[String]) = match self {
            UriUse::Page { pages } => (pages, &[]),
            UriUse::Launch { launch } => (launch, &[]),
            UriUse::GameLink { pages, launch } => (pages, launch),
        };
        let mut all: Vec<&str> = a.iter().chain(b).map(String::as_str).collect();
        all.retain(|s| !NEVER.contains(s));
        all.dedup();
        all
    }
}

/// A scheme as RFC 3986 §3.1 writes it: a letter, then letters, digits, `+`, `-`, `.`.
pub fn is_scheme(scheme: &str) -> bool {
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && scheme.len() <= 32
}

/// A scheme an operator lists (configuration or CLI), lowercase; or why it cannot be.
pub fn operator_scheme(scheme: &str) -> Result<String, String> {
    let scheme = scheme.trim();
    if !is_scheme(scheme) {
        return Err(format!("{scheme:?} is not a URI scheme"));
    }
    let scheme = scheme.to_ascii_lowercase();
    if NEVER.contains(&scheme.as_str()) {
        return Err(format!(
            "{scheme:?} URIs are never sent to users (they run script or open the user's own files in a client)"
        ));
    }
    Ok(scheme)
}

/// Checks that `uri`, from the field `var`, is one URI with a scheme allowed for `what`.
pub fn check(uri: &str, var: &str, what: UriUse<'_>) -> Result<(), Failure> {
    if uri.chars().count() > MAX_URI {
        return Err(Failure::bad_request(format!(
            "the field \"{var}\" is longer than {MAX_URI} characters"
        )));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Failure::bad_request(format!(
            "the field \"{var}\" holds spaces or control characters; give one URI"
        )));
    }
    let scheme = uri
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| is_scheme(s))
        .ok_or_else(|| {
            Failure::bad_request(format!("the field \"{var}\" is not a URI (no scheme)"))
        })?
        .to_ascii_lowercase();
    if NEVER.contains(&scheme.as_str()) {
        return Err(Failure::bad_request(format!(
            "the field \"{var}\" is a {} URI, which is never sent to users",
            quote(&scheme)
        )));
    }
    if !what.allows(&scheme) {
        let allowed = what.allowed();
        return Err(Failure::bad_request(format!(
            "the field \"{var}\" is a {} URI; allowed here: {}",
            quote(&scheme),
            if allowed.is_empty() {
                "none (the operator sets them)".to_owned()
            } else {
                allowed.join(", ")
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn each_use_takes_its_own_schemes() {
        let pages = list(&["https"]);
        let launch = list(&["steam"]);
        let page = UriUse::Page { pages: &pages };
        let start = UriUse::Launch { launch: &launch };
        let link = UriUse::GameLink {
            pages: &pages,
            launch: &launch,
        };
        let table: &[(&str, UriUse<'_>, bool)] = &[
            ("https://play.example/j/1", page, true),
            ("HTTPS://play.example/j/1", page, true),
            ("steam://run/4000", page, false),
            ("steam://run/4000", start, true),
            ("https://play.example/j/1", start, false),
            ("steam://run/4000", link, true),
            ("https://play.example/j/1", link, true),
            ("http://play.example/j/1", link, false),
        ];
        for (uri, what, ok) in table {
            assert_eq!(check(uri, "uri", *what).is_ok(), *ok, "{uri} as {what:?}");
        }
    }

    #[test]
    fn script_is_refused_whatever_the_lists_say() {
        let everything = list(NEVER);
        for what in [
            UriUse::Page { pages: &everything },
            UriUse::Launch {
                launch: &everything,
            },
            UriUse::GameLink {
                pages: &everything,
                launch: &everything,
            },
        ] {
            for uri in [
                "javascript:alert(1)",
                "JavaScript:alert(1)",
                "data:text/html,<script>alert(1)</script>",
                "vbscript:msgbox(1)",
                "file:///etc/passwd",
            ] {
                let refused = check(uri, "uri", what).expect_err(uri);
                assert!(
                    refused.text.contains("never sent to users"),
                    "{}",
                    refused.text
                );
            }
        }
    }

    #[test]
    fn what_is_not_one_uri_is_refused() {
        let pages = list(&["https"]);
        let page = UriUse::Page { pages: &pages };
        for uri in [
            "play.example/j/1",
            ":nothing",
            "https ://x",
            "java script:alert(1)",
            "https://x\u{0}y",
            "1http://x",
        ] {
            assert_eq!(
                check(uri, "url", page).map_err(|f| f.condition),
                Err(xmpp_parsers::stanza_error::DefinedCondition::BadRequest),
                "{uri:?}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the input: an accepted URI has one of the allowed schemes, and a
        /// scheme of [`NEVER`], in any case, with any rest, is refused.
        #[test]
        fn only_allowed_schemes_pass(
            scheme in "[a-zA-Z][a-zA-Z0-9+.-]{0,8}",
            rest in "\\PC{0,40}",
            never in 0..NEVER.len(),
            upper in proptest::bool::ANY,
        ) {
            let pages = list(&["https", "http"]);
            let launch = list(&["steam"]);
            let link = UriUse::GameLink { pages: &pages, launch: &launch };
            let uri = format!("{scheme}:{rest}");
            if check(&uri, "uri", link).is_ok() {
                let lower = scheme.to_ascii_lowercase();
                proptest::prop_assert!(["https", "http", "steam"].contains(&lower.as_str()), "{uri}");
            }
            let bad = if upper { NEVER[never].to_ascii_uppercase() } else { NEVER[never].to_owned() };
            let everything = list(NEVER);
            let anything = UriUse::GameLink { pages: &everything, launch: &everything };
            let refused = format!("{bad}:{rest}");
            proptest::prop_assert!(check(&refused, "uri", anything).is_err(), "{}", refused);
        }
    }

    #[test]
    fn an_operator_cannot_allow_script() {
        assert_eq!(operator_scheme(" Steam ").as_deref(), Ok("steam"));
        for bad in ["javascript", "DATA", "file", "no scheme", "1x", ""] {
            assert!(operator_scheme(bad).is_err(), "{bad}");
        }
    }
}

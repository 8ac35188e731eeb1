//! Who is online on ejabberd, from its HTTP API: the command `connected_users_vhost`
//! (mod_admin_extra through mod_http_api), which lists the full JID of every session of
//! one virtual host and nothing else. ejabberd does not replay presence to a component
//! when it connects, so without this the bridge cannot tell a user who is offline from
//! one whose sessions began before it connected.
//!
//! Plain HTTP/1.1 to a loopback listener, one request per link-up and host: enough of a
//! client for that, with a deadline and a cap on the answer's size.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest answer read: about 40 bytes per session, so room for more than a million.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Where the API listens: `http://host:port/path` (`path` ends before the command name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl ApiUrl {
    /// Parses `http://host[:port][/path]`; HTTPS is not spoken (the API listens on
    /// loopback, like the component port).
    pub fn parse(url: &str) -> Result<ApiUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?} must start with http:// (a listener on loopback)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let parse_port = |port: &str| {
            port.parse::<u16>()
                .map_err(|_| format!("{url:?} has an invalid port"))
        };
        let (host, port) = match authority.strip_prefix('[') {
            // An IPv6 literal: [::1]:5281
            Some(v6) => match v6.split_once(']') {
                Some((host, "")) => (host, 80),
                Some((host, port)) => (
                    host,
                    parse_port(port.strip_prefix(':').unwrap_or("invalid"))?,
                ),
                None => return Err(format!("{url:?} has an unclosed [")),
            },
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, parse_port(port)?),
                None => (authority, 80),
            },
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(format!("{url:?} has no valid host"));
        }
        if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(format!("{url:?} has an invalid path"));
        }
        Ok(ApiUrl {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

/// The full JIDs of every session of `vhost`.
pub async fn connected_users(
    api: &ApiUrl,
    vhost: &str,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    tokio::time::timeout(timeout, request(api, vhost))
        .await
        .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
}

async fn request(api: &ApiUrl, vhost: &str) -> Result<Vec<String>, String> {
    let body = serde_json::json!({ "host": vhost }).to_string();
    let head = format!(
        "POST {path}/connected_users_vhost HTTP/1.1\r\nHost: {authority}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n",
        path = api.path,
        authority = if api.host.contains(':') {
            format!("[{}]:{}", api.host, api.port)
        } else {
            format!("{}:{}", api.host, api.port)
        },
        len = body.len()
    );
    let mut stream = TcpStream::connect((api.host.as_str(), api.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", api.host, api.port))?;
    stream
        .write_all(format!("{head}{body}").as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        if answer.len() + n > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is larger than {} MiB",
                MAX_ANSWER_BYTES >> 20
            ));
        }
        answer.extend_from_slice(&chunk[..n]);
        // A server that keeps the connection open still sent all it will.
        if is_complete(&answer) {
            break;
        }
    }
    parse_answer(&answer)
}

/// Whether `answer` holds a whole HTTP answer: headers, and the body its
/// `Content-Length` announces or the last chunk.
fn is_complete(answer: &[u8]) -> bool {
    let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let body = answer.len() - (split + 4);
    for line in head.split("\r\n") {
        if let Some(len) = line.strip_prefix("content-length:") {
            return len.trim().parse::<usize>().is_ok_and(|len| body >= len);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return answer.ends_with(b"\r\n0\r\n\r\n");
        }
    }
    false
}

/// The sessions in an HTTP answer: status 200 and a JSON array of strings (the body of
/// as many bytes as `Content-Length` says, else to the end).
pub fn parse_answer(answer: &[u8]) -> Result<Vec<String>, String> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no end of headers")?;
    let head = std::str::from_utf8(&answer[..split]).map_err(|_| "the headers are not UTF-8")?;
    let mut body = &answer[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code = status.split_whitespace().nth(1).unwrap_or("");
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value.parse().map_err(|_| "invalid Content-Length")?;
            body = body
                .get(..len)
                .ok_or("the answer ended before its Content-Length")?;
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            chunked = true;
        }
    }
    let dechunked;
    if chunked {
        dechunked = dechunk(body)?;
        body = &dechunked;
    }
    if code != "200" {
        let text = String::from_utf8_lossy(body);
        return Err(format!(
            "the API answered {} ({})",
            crate::failure::quote(status),
            crate::failure::quote(text.trim())
        ));
    }
    serde_json::from_slice::<Vec<String>>(body)
        .map_err(|e| format!("the answer is not a list of sessions: {e}"))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk has no size line")?;
        let size = std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .ok_or("a chunk has an invalid size")?;
        body = &body[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("a chunk is cut short")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("a chunk is cut short")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_on_a_host_and_port() {
        assert_eq!(
            ApiUrl::parse("http://127.0.0.1:5281/api/").unwrap(),
            ApiUrl {
                host: "127.0.0.1".into(),
                port: 5281,
                path: "/api".into()
            }
        );
        assert_eq!(ApiUrl::parse("http://localhost").unwrap().port, 80);
        let v6 = ApiUrl::parse("http://[::1]:5281/api").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 5281));
        assert!(ApiUrl::parse("http://[::1/api").is_err());
        for bad in [
            "https://127.0.0.1/api",
            "127.0.0.1:5281",
            "http://:5281/api",
            "http://h:x/api",
        ] {
            assert!(ApiUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_answer_is_a_list_of_full_jids() {
        let body = r#"["a@example.test/pc","b@example.test/x"]"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\ncontent-type: application/json\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(
            parse_answer(answer.as_bytes()).unwrap(),
            vec!["a@example.test/pc", "b@example.test/x"]
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[\"a@x\r\n4\r\n/r\"]\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked).unwrap(), vec!["a@x/r"]);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_an_answer_or_an_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_answer(&bytes);
        }

        #[test]
        fn sessions_come_back_as_sent_whatever_the_framing(
            sessions in proptest::collection::vec(".{0,40}", 0..20),
            cuts in proptest::collection::vec(1usize..30, 0..10),
        ) {
            let body = serde_json::to_string(&sessions).unwrap();
            let plain = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            proptest::prop_assert_eq!(&parse_answer(plain.as_bytes()).unwrap(), &sessions);
            // The same body in chunks of the sizes drawn.
            let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let mut rest = body.as_bytes();
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
                chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                chunked.extend_from_slice(chunk);
                chunked.extend_from_slice(b"\r\n");
                rest = tail;
                if cuts.is_empty() {
                    break;
                }
            }
            if !rest.is_empty() {
                chunked.extend_from_slice(format!("{:x}\r\n", rest.len()).as_bytes());
                chunked.extend_from_slice(rest);
                chunked.extend_from_slice(b"\r\n");
            }
            chunked.extend_from_slice(b"0\r\n\r\n");
            proptest::prop_assert_eq!(&parse_answer(&chunked).unwrap(), &sessions);
        }
    }

    #[test]
    fn refusals_and_odd_answers_are_errors_that_say_why() {
        let body = r#"{"status":"error","message":"not allowed here"}"#;
        let refused = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let e = parse_answer(refused.as_bytes()).unwrap_err();
        assert!(e.contains("403") && e.contains("not allowed"), "{e}");
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n\r\n{\"a\":1}").is_err());
        assert!(parse_answer(b"garbage").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n[]").is_err());
    }
}

//! A small HTTP/1.1 client, as a game server would use the bridge's HTTP front door: one
//! kept-alive connection, requests with a bearer token and a JSON body, whole responses
//! read back by their `content-length`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: its status, its headers (names in lowercase), its body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; a body that is not is the text saying so (which no check of
    /// a member passes).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            serde_json::Value::String(format!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ))
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One connection to the door.
pub struct Http {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// The bearer token sent with each request, if any.
    pub token: Option<String>,
    timeout: Duration,
}

impl Http {
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Http {
        Http {
            addr,
            stream: None,
            token: token.map(str::to_owned),
            timeout: Duration::from_secs(30),
        }
    }

    /// `POST /v1/<node>` with `body` (JSON). A request that got no answer is status 0,
    /// its body saying why.
    pub async fn command(&mut self, node: &str, body: &serde_json::Value) -> Reply {
        let body = body.to_string();
        self.request("POST", &format!("/v1/{node}"), &[], body.as_bytes())
            .await
            .unwrap_or_else(|e| Reply {
                status: 0,
                headers: Vec::new(),
                body: format!("POST /v1/{node}: {e}").into_bytes(),
            })
    }

    /// Any request, on the kept-alive connection (opened again if the door closed it).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, String> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        let reused = self.stream.is_some();
        match self.exchange(&bytes).await {
            Ok(reply) => Ok(reply),
            // The door may have closed an idle kept-alive connection: once more, afresh.
            Err(_) if reused => {
                self.stream = None;
                self.exchange(&bytes).await
            }
            Err(e) => Err(e),
        }
    }

    async fn exchange(&mut self, bytes: &[u8]) -> Result<Reply, String> {
        let timeout = self.timeout;
        let result = tokio::time::timeout(timeout, async {
            if self.stream.is_none() {
                let stream = TcpStream::connect(self.addr)
                    .await
                    .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
                self.stream = Some(stream);
            }
            let stream = self.stream.as_mut().ok_or("no connection")?;
            stream
                .write_all(bytes)
                .await
                .map_err(|e| format!("cannot send: {e}"))?;
            read_reply(stream).await
        })
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?;
        if let Ok(reply) = &result {
            if reply.header("connection") == Some("close") {
                self.stream = None;
            }
        } else {
            self.stream = None;
        }
        result
    }
}

/// Reads one response.
pub async fn read_reply(stream: &mut TcpStream) -> Result<Reply, String> {
    let (first, headers, body) = read_message(stream).await?;
    let status: u16 = first
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {first:?}"))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Reads one HTTP/1.1 message: its first line, its headers (names in lowercase), its
/// body by its `content-length`.
async fn read_message(
    stream: &mut TcpStream,
) -> Result<(String, Vec<(String, String)>, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("cannot read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "the connection closed before a whole head: {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("cannot read the body: {e}"))?;
        if n == 0 {
            return Err("the connection closed within the body".to_owned());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok((first, headers, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A request a [`Receiver`] took: its headers and body, read as a response is (its
/// status is 0).
pub type Delivery = Reply;

#[derive(Default)]
struct Taken {
    /// Answering 503 to everything.
    down: bool,
    /// How long it takes before it answers.
    delay: Duration,
    deliveries: Vec<Delivery>,
    refused: usize,
}

/// A webhook receiver on loopback: takes every request (204), or, while down, refuses
/// each (503); keeps what it took.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    taken: std::sync::Arc<std::sync::Mutex<Taken>>,
}

impl Receiver {
    pub async fn start() -> Result<Receiver, String> {
        Receiver::start_at([127, 0, 0, 1].into()).await
    }

    /// [`Receiver::start`] on another address of this machine.
    pub async fn start_at(ip: std::net::IpAddr) -> Result<Receiver, String> {
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .map_err(|e| format!("cannot listen: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("no address: {e}"))?;
        let receiver = Receiver {
            addr,
            taken: Default::default(),
        };
        let taken = receiver.taken.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, taken.clone()));
            }
        });
        Ok(receiver)
    }

    /// Answers each request only after `delay` (a slow receiver).
    pub fn set_delay(&self, delay: Duration) {
        if let Ok(mut taken) = self.taken.lock() {
            taken.delay = delay;
        }
    }

    pub fn set_down(&self, down: bool) {
        if let Ok(mut taken) = self.taken.lock() {
            taken.down = down;
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.taken
            .lock()
            .map(|t| t.deliveries.clone())
            .unwrap_or_default()
    }

    pub fn refused(&self) -> usize {
        self.taken.lock().map(|t| t.refused).unwrap_or_default()
    }

    /// Waits until it took `n` requests.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Result<Vec<Delivery>, String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= n {
                return Ok(deliveries);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "took {} of {n} deliveries within {limit:?}",
                    deliveries.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn serve(mut stream: TcpStream, taken: std::sync::Arc<std::sync::Mutex<Taken>>) {
    loop {
        let Ok(request) = read_reply_or_request(&mut stream).await else {
            return;
        };
        let delay = taken.lock().map(|t| t.delay).unwrap_or_default();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let down = {
            let Ok(mut taken) = taken.lock() else { return };
            if taken.down {
                taken.refused += 1;
            } else {
                taken.deliveries.push(request);
            }
            taken.down
        };
        let answer: &[u8] = if down {
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
        } else {
            b"HTTP/1.1 204 No Content\r\n\r\n"
        };
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// Reads one request (its head and its body).
async fn read_reply_or_request(stream: &mut TcpStream) -> Result<Delivery, String> {
    let (_, headers, body) = read_message(stream).await?;
    Ok(Reply {
        status: 0,
        headers,
        body,
    })
}

/// An event of an event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub id: String,
    pub event: String,
    pub data: String,
}

/// A reader of `GET /v1/events`, as `EventSource` reads it.
pub struct Stream {
    stream: TcpStream,
    /// Bytes of the body not read yet (chunked framing removed).
    text: String,
    raw: Vec<u8>,
    pub status: u16,
}

impl Stream {
    /// Opens the stream with `token`, after `last` if given.
    pub async fn open(
        addr: SocketAddr,
        token: Option<&str>,
        last: Option<&str>,
    ) -> Result<Stream, String> {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let mut head =
            format!("GET /v1/events HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n");
        if let Some(token) = token {
            head.push_str(&format!("authorization: Bearer {token}\r\n"));
        }
        if let Some(last) = last {
            head.push_str(&format!("last-event-id: {last}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = find(&raw, b"\r\n\r\n") {
                break at;
            }
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .map_err(|_| "no head".to_owned())?
                .map_err(|e| format!("cannot read: {e}"))?;
            if n == 0 {
                return Err("closed".to_owned());
            }
            raw.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let raw = raw[head_end + 4..].to_vec();
        Ok(Stream {
            stream,
            text: String::new(),
            raw,
            status,
        })
    }

    /// The next event (comments skipped), within `limit`.
    pub async fn next(&mut self, limit: Duration) -> Result<StreamEvent, String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            self.dechunk();
            while let Some(at) = self.text.find("\n\n") {
                let block: String = self.text.drain(..at + 2).collect();
                let mut event = StreamEvent {
                    id: String::new(),
                    event: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        event.id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data = v.to_owned();
                    }
                }
                if !event.data.is_empty() {
                    return Ok(event);
                }
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(left, self.stream.read(&mut chunk))
                .await
                .map_err(|_| format!("no event within {limit:?}; unread: {:?}", self.text))?
                .map_err(|e| format!("cannot read: {e}"))?;
            if n == 0 {
                return Err("the stream closed".to_owned());
            }
            self.raw.extend_from_slice(&chunk[..n]);
        }
    }

    /// Moves whole chunks of the chunked body into `text`.
    fn dechunk(&mut self) {
        loop {
            let Some(line_end) = find(&self.raw, b"\r\n") else {
                return;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
                return;
            };
            if self.raw.len() < line_end + 2 + size + 2 {
                return;
            }
            let data = self.raw[line_end + 2..line_end + 2 + size].to_vec();
            self.raw.drain(..line_end + 2 + size + 2);
            self.text.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

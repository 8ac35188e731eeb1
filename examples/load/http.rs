//! With `--http`: the HTTP front door under the same load. `peers` and `status` as JSON
//! over `--pipeline` kept-alive HTTP/1.1 connections (one request in flight on each),
//! then webhook deliveries: invites made over HTTP, every invitation accepted by its
//! invitee (a chat word over the link), the news piling up in the outbox, then a
//! webhook set to a receiver on loopback, timed from its first delivery to its last.

use super::*;

#[path = "../../tests/integration/support/http.rs"]
#[allow(dead_code)]
mod client;

use client::{Http, Receiver};

/// The HTTP door's address, and the platform's token.
pub(crate) struct Door {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) token: String,
}

/// Runs the bridge's command line on the load's configuration.
pub(crate) fn cli(opts: &Opts, config: &Path, args: &[&str]) -> Res<String> {
    let out = Command::new(&opts.bridge)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()?;
    if !out.status.success() {
        return Err(format!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A platform token, read by the bridge once it answers with it.
pub(crate) async fn open(opts: &Opts, config: &Path, addr: std::net::SocketAddr) -> Res<Door> {
    let made = cli(
        opts,
        config,
        &["platform", "new-token", &format!("arcade@{DOMAIN}")],
    )?;
    let token = made.lines().last().unwrap_or_default().trim().to_owned();
    let mut http = Http::new(addr, Some(&token));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = http
            .command(
                "status",
                &serde_json::json!({"jids": [format!("user0@{DOMAIN}")]}),
            )
            .await;
        if reply.status == 200 {
            return Ok(Door { addr, token });
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the door never took the token: {} {}",
                reply.status,
                reply.text()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the bridge is idle (no CPU used for 0.3 s; 10 s at most), so that a phase
/// does not pay for what the one before left (disclosure records and last-seen times
/// written in batches).
async fn settle(bridge: &mut Bridge) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = bridge.cpu_ticks()?;
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = bridge.cpu_ticks()?;
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
    Ok(())
}

/// `total` requests made by `body(i)` to `node`, `opts.pipeline` connections each with
/// one in flight; answers/s, CPU per answer, latencies.
async fn flood(
    opts: &Opts,
    bridge: &mut Bridge,
    door: &Door,
    report: &mut Report,
    (name, node): (&'static str, &'static str),
    total: usize,
    body: impl Fn(usize) -> serde_json::Value + Send + Sync + 'static,
) -> Res<Vec<serde_json::Value>> {
    settle(bridge).await?;
    let body = Arc::new(body);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = bridge.cpu_ticks()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..opts.pipeline {
        let (body, next, addr, token) = (body.clone(), next.clone(), door.addr, door.token.clone());
        tasks.push(tokio::spawn(async move {
            let mut http = Http::new(addr, Some(&token));
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t0 = Instant::now();
                let reply = http.command(node, &body(i)).await;
                latencies.push(t0.elapsed().as_micros() as u32);
                if reply.status != 200 {
                    errors.push(format!("{} {}", reply.status, reply.text()));
                } else if samples.is_empty() {
                    samples.push(reply.json());
                }
            }
            (latencies, errors, samples)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = Vec::new();
    let mut samples = Vec::new();
    for task in tasks {
        let (l, e, s) = task.await?;
        latencies.extend(l);
        errors.extend(e);
        samples.extend(s);
    }
    let elapsed = started.elapsed();
    let cpu = bridge.secs(bridge.cpu_ticks()? - cpu0);
    let mut flood = Flood::new(name, total);
    flood.answered = latencies.len();
    flood.errors = errors.len();
    flood.latencies_us = latencies;
    flood.first_error = errors.first().cloned();
    flood.report(report, elapsed, Some(cpu));
    bridge.check_alive()?;
    if !errors.is_empty() {
        return Err(format!("{name}: {} errors, the first: {}", errors.len(), errors[0]).into());
    }
    Ok(samples)
}

/// `peers` and `status` over HTTP.
pub(crate) async fn requests(
    opts: &Opts,
    bridge: &mut Bridge,
    door: &Door,
    report: &mut Report,
) -> Res<()> {
    let (users, distinct) = (opts.users, opts.peers_users);
    let samples = flood(opts, bridge, door, report, ("HTTP peers, JSON", "peers"), opts.requests, move |i| {
        serde_json::json!({"jid": format!("user{}@{DOMAIN}", peers_target(i, distinct, users))})
    })
    .await?;
    if let Some(sample) = samples.first() {
        report.add(
            "HTTP peers, JSON: peers per answer (a sample)",
            sample["items"].as_array().map_or(0, Vec::len).to_string(),
        );
    }
    let users = opts.users;
    flood(
        opts,
        bridge,
        door,
        report,
        ("HTTP status, JSON", "status"),
        opts.status_requests,
        move |i| {
            let jids: Vec<String> = (0..STATUS_BATCH)
                .map(|k| format!("user{}@{DOMAIN}", (i * STATUS_BATCH + k) % users))
                .collect();
            serde_json::json!({"jids": jids})
        },
    )
    .await?;
    Ok(())
}

/// Webhook deliveries: news made, then delivered to a receiver on loopback.
pub(crate) async fn webhooks(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    (door, config): (&Door, &Path),
    report: &mut Report,
) -> Res<()> {
    // Invite slots after those of the XMPP invite phase: hosts and invitees of their own,
    // so each invitee has exactly one invitation waiting and answers it with a bare word.
    let first = opts.invites;
    let count = opts
        .http_invites
        .min((opts.users / BLOCK) * INVITES_PER_BLOCK - first);
    if count == 0 {
        report.add(
            "webhooks",
            "skipped: no invite slots left (raise --users)".to_owned(),
        );
        return Ok(());
    }
    let slot_host = |slot: usize| slot / INVITES_PER_BLOCK * BLOCK + slot % INVITES_PER_BLOCK * 8;
    flood(
        opts,
        bridge,
        door,
        report,
        ("HTTP invite", "invite"),
        count,
        move |i| {
            let host = slot_host(first + i);
            let invitees: Vec<String> = (1..=INVITEES)
                .map(|k| format!("user{}@{DOMAIN}", host + k))
                .collect();
            serde_json::json!({"host": format!("user{host}@{DOMAIN}"), "invitees": invitees,
            "game": "Chess", "session": format!("http-{i}")})
        },
    )
    .await?;
    // Every invitee accepts, in a chat message over the link.
    let mut batch = String::new();
    for i in 0..count {
        let host = slot_host(first + i);
        for k in 1..=INVITEES {
            let _ = write!(
                batch,
                "<message type='chat' from='user{}@{DOMAIN}/r' to='{COMPONENT}' id='acc-{i}-{k}'><body>accept</body></message>",
                host + k
            );
        }
        if batch.len() > 64 * 1024 {
            link.send(std::mem::take(&mut batch));
        }
    }
    link.send(batch);
    let expected = (count * INVITEES) as u64;
    // The news pile up in the outbox (no webhook yet).
    let deadline = Instant::now() + Duration::from_secs(120);
    let made = loop {
        let listed = cli(
            opts,
            config,
            &[
                "platform",
                "deliveries",
                &format!("arcade@{DOMAIN}"),
                "--limit",
                "1",
            ],
        )?;
        let last: u64 = listed
            .lines()
            .find_map(|l| l.strip_prefix('#')?.split(' ').next()?.parse().ok())
            .unwrap_or(0);
        if last >= expected {
            break last;
        }
        if Instant::now() > deadline {
            return Err(format!("{last} of {expected} news events were made within 120 s").into());
        }
        bridge.check_alive()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    report.add("webhooks: news events waiting", made.to_string());
    let receiver = Receiver::start().await?;
    // A receiver that is down when the news start coming, for `--webhook-outage` seconds.
    let outage = Duration::from_secs(opts.webhook_outage);
    receiver.set_down(!outage.is_zero());
    let cpu0 = bridge.cpu_ticks()?;
    cli(
        opts,
        config,
        &[
            "platform",
            "set-webhook",
            &format!("arcade@{DOMAIN}"),
            &format!("http://127.0.0.1:{}/news", receiver.addr.port()),
        ],
    )?;
    if !outage.is_zero() {
        tokio::time::sleep(outage).await;
        receiver.set_down(false);
        report.add(
            "webhooks: receiver down for",
            format!(
                "{} s, {} attempts refused meanwhile",
                outage.as_secs(),
                receiver.refused()
            ),
        );
    }
    let up_at = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(400);
    let mut first_at = None;
    loop {
        let taken = receiver.deliveries().len();
        if taken > 0 && first_at.is_none() {
            first_at = Some(Instant::now());
        }
        if taken as u64 >= made {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{taken} of {made} events delivered within 300 s").into());
        }
        bridge.check_alive()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = first_at.map_or(Duration::ZERO, |t| t.elapsed());
    if !outage.is_zero() {
        report.add(
            "webhooks: caught up after the outage",
            format!(
                "first delivery {:.1} s after the receiver came back, the last {:.1} s after",
                first_at.map_or(0.0, |t| t.duration_since(up_at).as_secs_f64()),
                up_at.elapsed().as_secs_f64()
            ),
        );
    }
    let cpu = bridge.secs(bridge.cpu_ticks()? - cpu0);
    let deliveries = receiver.deliveries();
    let mut ids: Vec<u64> = deliveries
        .iter()
        .filter_map(|d| d.header("webhook-id")?.parse().ok())
        .collect();
    let in_order = ids.windows(2).all(|w| w[0] < w[1]);
    ids.sort_unstable();
    ids.dedup();
    report.add(
        "webhooks: delivered",
        format!(
            "{} deliveries, {} distinct events, in id order: {in_order}, in {:.3} s from the first",
            deliveries.len(),
            ids.len(),
            elapsed.as_secs_f64()
        ),
    );
    report.add(
        "webhooks: deliveries/s",
        format!(
            "{:.0}",
            deliveries.len() as f64 / elapsed.as_secs_f64().max(1e-3)
        ),
    );
    report.add(
        "webhooks: bridge CPU per delivery",
        format!(
            "{:.1} µs ({cpu:.3} s in all)",
            cpu * 1e6 / deliveries.len().max(1) as f64
        ),
    );
    if (ids.len() as u64) < made {
        return Err(format!("only {} of {made} events were delivered", ids.len()).into());
    }
    Ok(())
}

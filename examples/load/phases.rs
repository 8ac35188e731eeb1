//! The phases: the presence burst, and the floods of `peers`, `status` and `invite`.

use super::*;

pub(crate) async fn burst(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    base_rss: u64,
) -> Res<()> {
    // Built before the clock starts: the burst measures the bridge, not this program.
    let mut batches: Vec<Vec<u8>> = Vec::new();
    let mut batch = Vec::with_capacity(1 << 20);
    for i in 0..opts.users {
        let show = match (i % BLOCK < BLOCK / 2, i % 3) {
            (true, 0) => "<show>chat</show>",
            (true, _) => "",
            (false, 0) => "<show>away</show>",
            (false, 1) => "<show>xa</show>",
            (false, _) => "<show>dnd</show>",
        };
        let _ = write!(
            Buf(&mut batch),
            "<presence from='user{i}@{DOMAIN}/r' to='{COMPONENT}'>{show}<status>level {} run</status><priority>5</priority>\
             <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org' ver='T7fOZrtBnV8sDA2fFTS59vyOyUs='/></presence>",
            i % 97
        );
        if batch.len() >= 1 << 20 {
            batches.push(std::mem::replace(&mut batch, Vec::with_capacity(1 << 20)));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    let bytes: usize = batches.iter().map(Vec::len).sum();
    let cpu0 = bridge.cpu_ticks()?;
    let t0 = Instant::now();
    for b in batches {
        link.send_bytes(b);
    }
    let written = link.marker();
    let limit = Duration::from_secs(60) + Duration::from_millis(opts.users as u64);
    link.ping(bridge, "burst-ping", limit).await?;
    let absorbed = t0.elapsed();
    let cpu1 = bridge.cpu_ticks()?;
    let rss = bridge.rss_kib()?;
    let written = match tokio::time::timeout(Duration::from_secs(1), written).await {
        Ok(Ok(at)) => format!("{:.3} s", at.saturating_duration_since(t0).as_secs_f64()),
        _ => "?".to_owned(),
    };
    report.add(
        "burst: presences sent",
        format!("{} ({})", opts.users, human_bytes(bytes as u64)),
    );
    report.add("burst: written to the socket after", written);
    report.add(
        "burst: absorbed after (ping answered)",
        format!("{:.3} s", absorbed.as_secs_f64()),
    );
    report.add(
        "burst: presences/s",
        format!("{:.0}", opts.users as f64 / absorbed.as_secs_f64()),
    );
    report.add(
        "burst: bridge CPU",
        format!(
            "{:.3} s ({:.2} µs per presence)",
            bridge.secs(cpu1 - cpu0),
            bridge.secs(cpu1 - cpu0) * 1e6 / opts.users as f64
        ),
    );
    report.add("burst: RSS after", mib(rss));
    report.add(
        "burst: RSS growth per online user",
        format!(
            "{:.0} bytes",
            (rss as f64 - base_rss as f64) * 1024.0 / opts.users as f64
        ),
    );
    // What stays once the buffers of the burst itself are given back: the directory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = bridge.rss_kib()?;
    report.add(
        "burst: RSS per online user, settled (2 s later)",
        format!(
            "{:.0} bytes",
            (settled as f64 - base_rss as f64) * 1024.0 / opts.users as f64
        ),
    );
    let stats = link.stats(bridge, "stats-burst").await?;
    let online = stats
        .get("online-resources")
        .cloned()
        .unwrap_or_else(|| "?".to_owned());
    report.add("burst: online resources (bridge's stats)", online.clone());
    if online != opts.users.to_string() {
        return Err(format!(
            "after the burst the bridge counts {online} online resources, not {}",
            opts.users
        )
        .into());
    }
    Ok(())
}

/// Who the `i`th `peers` request asks about, of `distinct` users: one at the head of a
/// block (so active, with 20 active mutual contacts), the blocks spread over the users.
pub(crate) fn peers_target(i: usize, distinct: usize, users: usize) -> usize {
    let k = i % distinct;
    let blocks = (users / BLOCK).max(1);
    // A stride coprime with the number of blocks visits each block once.
    let stride = (1..)
        .map(|n| 7919 * n + 1)
        .find(|s| gcd(*s, blocks) == 1)
        .unwrap_or(1);
    (k / LOBBY * stride % blocks) * BLOCK + k % LOBBY
}

pub(crate) fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub(crate) fn peers_request(id: &str, from: &str, jid: &str) -> String {
    peers_request_shaped(id, from, jid, false)
}

pub(crate) fn peers_request_shaped(id: &str, from: &str, jid: &str, compact: bool) -> String {
    let format = if compact {
        "<field var='format'><value>compact</value></field>"
    } else {
        ""
    };
    format!(
        "<iq type='set' id='{id}' from='{from}' to='{COMPONENT}'>\
         <command xmlns='{NS_COMMANDS}' node='peers' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>{jid}</value></field>{format}</x>\
         </command></iq>"
    )
}

pub(crate) async fn peers_flood(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    hostile: &mut HostileLog,
) -> Res<()> {
    let shapes = if opts.hostile {
        hostile_shapes()
    } else {
        Vec::new()
    };
    let total = opts.peers_users;
    let schedule: Vec<usize> = (0..shapes.len())
        .map(|h| (h + 1) * total / (shapes.len() + 1))
        .collect();
    let mut flood = Flood::new("peers, cold", total);
    let rosters0 = link.counters.roster_gets.load(Ordering::Relaxed);
    let cpu0 = bridge.cpu_ticks()?;
    let t0 = Instant::now();
    let mut next_shape = 0;
    let mut result: Res<()> = Ok(());
    while flood.answered < total {
        let mut out = String::new();
        while flood.in_flight.len() < opts.pipeline && flood.sent < total {
            while next_shape < shapes.len() && flood.sent >= schedule[next_shape] {
                out.push_str(&shapes[next_shape].stanzas);
                hostile.sent(&shapes[next_shape], next_shape);
                next_shape += 1;
            }
            let i = flood.sent;
            let id = format!("p-{i}");
            let target = peers_target(i, opts.peers_users, opts.users);
            out.push_str(&peers_request(
                &id,
                PLATFORM,
                &format!("user{target}@{DOMAIN}"),
            ));
            flood.in_flight.insert(id, Instant::now());
            flood.sent += 1;
        }
        if !out.is_empty() {
            link.send(out);
        }
        match flood.wait(link, bridge, hostile).await {
            Ok(()) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // Shapes scheduled after the last request (a tiny --requests) still go out.
    if result.is_ok() {
        while next_shape < shapes.len() {
            link.send(shapes[next_shape].stanzas.clone());
            hostile.sent(&shapes[next_shape], next_shape);
            next_shape += 1;
        }
    }
    let elapsed = t0.elapsed();
    let cpu = bridge
        .cpu_ticks()
        .ok()
        .map(|cpu1| bridge.secs(cpu1.saturating_sub(cpu0)));
    flood.report(report, elapsed, cpu);
    report.add(
        "peers, cold: mean peers per answer",
        format!(
            "{:.1}",
            flood.items as f64 / (flood.answered - flood.errors).max(1) as f64
        ),
    );
    report.add(
        "peers, cold: roster gets answered",
        (link.counters.roster_gets.load(Ordering::Relaxed) - rosters0).to_string(),
    );
    if let Ok(rss) = bridge.rss_kib() {
        report.add("peers, cold: RSS after", mib(rss));
    }
    if let Err(e) = result {
        if opts.hostile {
            return Err(format!(
                "{e}\n      (hostile stanzas were being sent; first one whose probe went unanswered: {}; see the table above)",
                hostile.first_unanswered_probe().unwrap_or("none")
            )
            .into());
        }
        return Err(e);
    }
    if opts.hostile {
        // Let the hostile replies and probes that are still on their way come in.
        // A request the bridge chose not to answer is reported, not waited for forever.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !hostile.all_answered() {
            match link
                .next_event(bridge, deadline, "the replies to the hostile stanzas")
                .await
            {
                Ok(Event::Reply(reply)) => {
                    hostile.reply(&reply);
                }
                Ok(Event::Closed(reason)) => return Err(link_lost(bridge, &reason)),
                Err(e) => {
                    bridge.check_alive()?;
                    report.add("hostile: still unanswered after 20 s", e.to_string());
                    break;
                }
            }
        }
        report.add(
            "hostile: IQ requests answered",
            format!("{} of {}", hostile.answered(), hostile.expected()),
        );
        report.add(
            "hostile: probe pings answered",
            format!("{} of {}", hostile.probes_answered(), hostile.probes()),
        );
    }
    if flood.errors > 0 {
        return Err(format!(
            "{} peers requests were answered with an error",
            flood.errors
        )
        .into());
    }
    Ok(())
}

/// `peers` about the same users again, their rosters cached: `opts.requests` requests,
/// as forms or compact answers.
pub(crate) async fn peers_warm(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    compact: bool,
) -> Res<()> {
    let total = opts.requests;
    if total == 0 {
        return Ok(());
    }
    let name = if compact {
        "peers, compact"
    } else {
        "peers, form"
    };
    let rosters0 = link.counters.roster_gets.load(Ordering::Relaxed);
    let bytes0 = link.counters.bytes_in.load(Ordering::Relaxed);
    let (flood, _, result) = pipelined(opts, bridge, link, report, name, total, |i, out| {
        let id = format!("{}-{i}", if compact { "pc" } else { "pf" });
        let target = peers_target(i, opts.peers_users, opts.users);
        out.push_str(&peers_request_shaped(
            &id,
            PLATFORM,
            &format!("user{target}@{DOMAIN}"),
            compact,
        ));
        id
    })
    .await?;
    let answers = (flood.answered - flood.errors).max(1) as f64;
    report.add(
        &format!("{name}: mean peers per answer"),
        format!("{:.1}", flood.items as f64 / answers),
    );
    report.add(
        &format!("{name}: mean answer size"),
        format!(
            "{:.0} bytes",
            (link.counters.bytes_in.load(Ordering::Relaxed) - bytes0) as f64 / answers
        ),
    );
    let fetched = link.counters.roster_gets.load(Ordering::Relaxed) - rosters0;
    if fetched > 0 {
        report.add(
            &format!("{name}: roster gets (expected none)"),
            fetched.to_string(),
        );
    }
    result
}

pub(crate) async fn status_flood(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    compact: bool,
) -> Res<()> {
    let total = opts.status_requests;
    if total == 0 {
        return Ok(());
    }
    let name = if compact {
        "status, compact"
    } else {
        "status, form"
    };
    let (flood, elapsed, result) = pipelined(opts, bridge, link, report, name, total, |i, out| {
        let id = format!("{}-{i}", if compact { "sc" } else { "sf" });
        let _ = write!(
            out,
            "<iq type='set' id='{id}' from='{PLATFORM}' to='{COMPONENT}'>\
             <command xmlns='{NS_COMMANDS}' node='status' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='jids'>"
        );
        for k in 0..STATUS_BATCH {
            let _ = write!(
                out,
                "<value>user{}@{DOMAIN}</value>",
                (i * STATUS_BATCH + k) % opts.users
            );
        }
        out.push_str("</field>");
        if compact {
            out.push_str("<field var='format'><value>compact</value></field>");
        }
        out.push_str("</x></command></iq>");
        id
    })
    .await?;
    report.add(
        &format!("{name}: users reported/s"),
        format!("{:.0}", flood.items as f64 / elapsed.as_secs_f64()),
    );
    let expected_rows = (flood.answered - flood.errors) * STATUS_BATCH;
    if result.is_ok() && flood.items as usize != expected_rows {
        report.add(
            &format!("{name}: rows"),
            format!("{} (expected {expected_rows})", flood.items),
        );
    }
    result
}

pub(crate) async fn invite_flood(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
) -> Res<()> {
    let total = opts.invites;
    if total == 0 {
        return Ok(());
    }
    let messages0 = link.counters.messages.load(Ordering::Relaxed);
    let (flood, elapsed, result) = pipelined(opts, bridge, link, report, "invite", total, |i, out| {
        // Hosts 8 apart at the head of a block are active; their next contacts are
        // mutual and active.
        let host = i / INVITES_PER_BLOCK * BLOCK + i % INVITES_PER_BLOCK * 8;
        let _ = write!(
            out,
            "<iq type='set' id='i-{i}' from='{PLATFORM}' to='{COMPONENT}'>\
             <command xmlns='{NS_COMMANDS}' node='invite' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='host'><value>user{host}@{DOMAIN}</value></field>\
             <field var='invitees'>"
        );
        for k in 1..=INVITEES {
            let _ = write!(out, "<value>user{}@{DOMAIN}</value>", host + k);
        }
        let _ = write!(
            out,
            "</field><field var='game'><value>Chess</value></field>\
             <field var='session'><value>table-{i}</value></field>\
             <field var='join'><value>https://play.example.test/j/{i}</value></field></x></command></iq>"
        );
        format!("i-{i}")
    })
    .await?;
    let messages = link.counters.messages.load(Ordering::Relaxed) - messages0;
    report.add(
        "invite: invitation messages",
        format!(
            "{messages} ({:.0}/s; expected {})",
            messages as f64 / elapsed.as_secs_f64(),
            (flood.answered - flood.errors) * INVITEES
        ),
    );
    result?;
    let expected = (total * INVITEES) as u64;
    if messages != expected {
        return Err(format!("{messages} invitations were sent, not {expected}").into());
    }
    Ok(())
}

/// Sends `total` requests of one kind, `opts.pipeline` in flight, each written by
/// `request(i, out)` (which returns its id), and reports the flood. For the invite phase
/// a ping after the last reply proves that what followed the replies (invitations) left
/// too. Returns the flood, its duration, and whether it went through without errors.
pub(crate) async fn pipelined(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    name: &'static str,
    total: usize,
    mut request: impl FnMut(usize, &mut String) -> String,
) -> Res<(Flood, Duration, Res<()>)> {
    let mut flood = Flood::new(name, total);
    let mut no_hostile = HostileLog::default();
    let cpu0 = bridge.cpu_ticks()?;
    let t0 = Instant::now();
    let mut result = Ok(());
    while flood.answered < total {
        let mut out = String::new();
        while flood.in_flight.len() < opts.pipeline && flood.sent < total {
            let id = request(flood.sent, &mut out);
            flood.in_flight.insert(id, Instant::now());
            flood.sent += 1;
        }
        if !out.is_empty() {
            link.send(out);
        }
        if let Err(e) = flood.wait(link, bridge, &mut no_hostile).await {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() {
        link.ping(bridge, &format!("{name}-ping"), Duration::from_secs(15))
            .await?;
    }
    let elapsed = t0.elapsed();
    let cpu = bridge
        .cpu_ticks()
        .ok()
        .map(|cpu1| bridge.secs(cpu1.saturating_sub(cpu0)));
    flood.report(report, elapsed, cpu);
    if result.is_ok() && flood.errors > 0 {
        result = Err(format!(
            "{} {name} requests were answered with an error",
            flood.errors
        )
        .into());
    }
    Ok((flood, elapsed, result))
}

/// Pipelined requests of one kind, matched to their replies by id.
pub(crate) struct Flood {
    pub(crate) name: &'static str,
    pub(crate) total: usize,
    pub(crate) sent: usize,
    pub(crate) answered: usize,
    pub(crate) errors: usize,
    pub(crate) items: u64,
    pub(crate) in_flight: HashMap<String, Instant>,
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) first_error: Option<String>,
}

impl Flood {
    pub(crate) fn new(name: &'static str, total: usize) -> Flood {
        Flood {
            name,
            total,
            sent: 0,
            answered: 0,
            errors: 0,
            items: 0,
            in_flight: HashMap::new(),
            latencies_us: Vec::with_capacity(total),
            first_error: None,
        }
    }

    /// Waits for at least one reply, then takes every reply already there.
    pub(crate) async fn wait(
        &mut self,
        link: &mut Link,
        bridge: &mut Bridge,
        hostile: &mut HostileLog,
    ) -> Res<()> {
        let deadline = Instant::now() + STALL;
        let what = format!(
            "replies to {} requests ({} of {} answered)",
            self.name, self.answered, self.total
        );
        let first = link.next_event(bridge, deadline, &what).await?;
        let mut event = Some(first);
        while let Some(ev) = event {
            match ev {
                Event::Reply(reply) => {
                    if let Some(sent_at) = self.in_flight.remove(&reply.id) {
                        self.answered += 1;
                        let us = reply.at.saturating_duration_since(sent_at).as_micros();
                        self.latencies_us
                            .push(u32::try_from(us).unwrap_or(u32::MAX));
                        if reply.ok {
                            self.items += u64::from(reply.items);
                        } else {
                            self.errors += 1;
                            if self.first_error.is_none() {
                                self.first_error = reply.body.clone();
                            }
                        }
                    } else if !hostile.reply(&reply) {
                        link.counters.unexpected.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Event::Closed(reason) => return Err(link_lost(bridge, &reason)),
            }
            event = link.events.try_recv().ok();
        }
        Ok(())
    }

    /// `cpu_secs` is `None` when the process is gone and its CPU time cannot be read.
    pub(crate) fn report(&mut self, report: &mut Report, elapsed: Duration, cpu_secs: Option<f64>) {
        let n = self.name;
        report.add(
            &format!("{n}: requests answered"),
            format!(
                "{} of {} ({} results, {} errors) in {:.3} s",
                self.answered,
                self.total,
                self.answered - self.errors,
                self.errors,
                elapsed.as_secs_f64()
            ),
        );
        report.add(
            &format!("{n}: answers/s"),
            format!("{:.0}", self.answered as f64 / elapsed.as_secs_f64()),
        );
        report.add(
            &format!("{n}: bridge CPU per answer"),
            match cpu_secs {
                Some(cpu) => format!(
                    "{:.1} µs ({cpu:.3} s in all)",
                    cpu * 1e6 / self.answered.max(1) as f64
                ),
                None => "unknown (the process is gone)".to_owned(),
            },
        );
        self.latencies_us.sort_unstable();
        let pct = |p: usize| -> String {
            if self.latencies_us.is_empty() {
                return "-".to_owned();
            }
            let i = (self.latencies_us.len() * p / 100).min(self.latencies_us.len() - 1);
            format!("{:.2} ms", f64::from(self.latencies_us[i]) / 1e3)
        };
        report.add(
            &format!("{n}: latency p50 / p99 / max"),
            format!("{} / {} / {}", pct(50), pct(99), pct(100)),
        );
        if let Some(body) = &self.first_error {
            report.add(&format!("{n}: first error"), truncate(body, 300));
        }
    }
}

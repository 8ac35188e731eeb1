//! The run: the bridge started, the link accepted, every phase in order.

use super::*;

pub(crate) async fn run(opts: &Opts, self_pin: String) -> Res<()> {
    if !opts.bridge.is_file() {
        return Err(format!(
            "no bridge binary at {}: build it with `cargo build --release --bin xmpp-game-bridge` or pass --bridge PATH",
            opts.bridge.display()
        )
        .into());
    }
    let dir = tempfile::Builder::new().prefix("xgb-load-").tempdir()?;
    let secret = format!("load-{:x}-{}", nanos(), std::process::id());
    let secret_path = dir.path().join("secret");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_path)?
        .write_all(secret.as_bytes())?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let config_path = dir.path().join("bridge.toml");
    let http_port = if opts.http {
        Some(
            std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port(),
        )
    } else {
        None
    };
    fs::write(
        &config_path,
        config_toml(
            port,
            &secret_path,
            &match &opts.storage_url {
                Some(url) => format!("url = {}", toml_string(url)),
                None => format!(
                    "path = {}",
                    toml_string(&dir.path().join("bridge.sqlite").display().to_string())
                ),
            },
            http_port,
        ),
    )?;
    let log_path = dir.path().join("bridge.log");
    let log = File::create(&log_path)?;

    let taskset = find_in_path("taskset");
    let mut command = match &taskset {
        Some(taskset) => {
            let mut c = Command::new(taskset);
            c.arg("-c").arg(opts.cpu.to_string()).arg(&opts.bridge);
            c
        }
        None => Command::new(&opts.bridge),
    };
    command
        .arg("run")
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", opts.bridge.display()))?;
    let mut bridge = Bridge {
        pid: child.id(),
        child,
        clk_tck: clock_ticks_per_second(),
        exited: None,
    };

    let mut report = Report::default();
    report.add("bridge", opts.bridge.display().to_string());
    report.add(
        "bridge pinned to",
        match taskset {
            Some(_) => format!("core {} (taskset)", opts.cpu),
            None => "not pinned (no taskset)".to_owned(),
        },
    );
    report.add("load tool pinned to", self_pin);
    report.add(
        "workload",
        format!(
            "{} users, {} contacts each ({} mutual), peers about {} users ({} warm requests per shape), {} status requests x {} per shape, shapes {}, {} in flight{}",
            opts.users,
            opts.contacts,
            MUTUAL.min(opts.contacts),
            opts.peers_users,
            opts.requests,
            opts.status_requests,
            STATUS_BATCH,
            if opts.compact { "form, compact" } else { "form" },
            opts.pipeline,
            if opts.hostile { ", hostile stanzas" } else { "" }
        ),
    );
    let mut hostile = HostileLog::default();
    let outcome = match tokio::time::timeout(
        opts.timeout,
        phases(
            opts,
            &mut bridge,
            (listener, &config_path, http_port),
            &secret,
            &mut report,
            &mut hostile,
        ),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "the whole run took longer than --timeout {} s",
            opts.timeout.as_secs()
        )
        .into()),
    };
    stop_bridge(&mut bridge, &mut report).await;

    println!();
    report.print();
    if opts.hostile {
        hostile.print();
    }
    let log_text = fs::read_to_string(&log_path).unwrap_or_default();
    let log_lines: Vec<&str> = log_text.lines().collect();
    let (shown, which) = if outcome.is_err() {
        (&log_lines[log_lines.len().saturating_sub(20)..], "last")
    } else {
        (&log_lines[..log_lines.len().min(8)], "first")
    };
    println!(
        "\nbridge log ({}, level warn): {} lines{}",
        log_path.display(),
        log_lines.len(),
        if shown.is_empty() {
            String::new()
        } else {
            format!(", the {which} {}:", shown.len())
        }
    );
    for line in shown {
        println!("  | {}", truncate(line, 300));
    }
    if opts.keep {
        let kept = dir.keep();
        println!("kept: {}", kept.display());
    }
    outcome
}

/// Every phase in order; the figures go into `report` as they are measured.
pub(crate) async fn phases(
    opts: &Opts,
    bridge: &mut Bridge,
    (listener, config, http_port): (TcpListener, &Path, Option<u16>),
    secret: &str,
    report: &mut Report,
    hostile: &mut HostileLog,
) -> Res<()> {
    let started = Instant::now();
    let mut link = connect(bridge, listener, secret, opts).await?;
    report.add(
        "link up (spawn to handshake)",
        format!("{:.0} ms", started.elapsed().as_secs_f64() * 1e3),
    );
    link.send(format!(
        "<message from='{DOMAIN}' to='{COMPONENT}' id='priv-1'>\
         <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
         <perm access='message' type='outgoing'/><perm access='presence' type='roster'/></privilege></message>"
    ));
    // The bridge asks the server for its version and disco#info as soon as it is up.
    let deadline = Instant::now() + Duration::from_secs(15);
    while link.counters.server_iqs.load(Ordering::Relaxed) < 2 {
        if Instant::now() >= deadline {
            return Err(
                "the bridge did not send its version and disco#info queries within 15 s".into(),
            );
        }
        bridge.check_alive()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    link.ping(bridge, "settle-ping", Duration::from_secs(15))
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base_rss = bridge.rss_kib()?;
    let base_cpu = bridge.cpu_ticks()?;
    report.add("RSS baseline (idle, linked)", mib(base_rss));
    report.add(
        "CPU at baseline (start-up)",
        format!("{:.3} s", bridge.secs(base_cpu)),
    );

    burst(opts, bridge, &mut link, report, base_rss).await?;
    peers_flood(opts, bridge, &mut link, report, hostile).await?;
    peers_warm(opts, bridge, &mut link, report, false).await?;
    if opts.compact {
        peers_warm(opts, bridge, &mut link, report, true).await?;
    }
    status_flood(opts, bridge, &mut link, report, false).await?;
    if opts.compact {
        status_flood(opts, bridge, &mut link, report, true).await?;
    }
    invite_flood(opts, bridge, &mut link, report).await?;
    if let Some(port) = http_port {
        let door = http::open(opts, config, ([127, 0, 0, 1], port).into()).await?;
        http::requests(opts, bridge, &door, report).await?;
        http::webhooks(opts, bridge, &mut link, (&door, config), report).await?;
    }

    // The link must still be the very same TCP connection.
    link.ping(bridge, "final-ping", Duration::from_secs(15))
        .await?;
    let stats = link.stats(bridge, "stats-final").await?;
    for key in [
        "stanzas-in",
        "stanzas-out",
        "stanzas-dropped",
        "stanzas-skipped",
        "stanzas-oversized",
        "requests-refused-busy",
        "requests-rate-limited",
        "commands-served",
        "names-known",
        "rosters-cached",
        "roster-cache-bytes",
        "reconnects",
    ] {
        report.add(
            &format!("bridge stats: {key}"),
            stats.get(key).cloned().unwrap_or_else(|| "?".to_owned()),
        );
    }
    let reconnects = link.reconnects.load(Ordering::Relaxed);
    report.add(
        "link at the end",
        format!("up, same TCP connection; {reconnects} new connection attempts"),
    );
    report.add(
        "roster gets answered (whole run)",
        link.counters
            .roster_gets
            .load(Ordering::Relaxed)
            .to_string(),
    );
    report.add(
        "stanzas from the bridge (whole run)",
        format!(
            "{} ({}), {} unexpected",
            link.counters.stanzas_in.load(Ordering::Relaxed),
            human_bytes(link.counters.bytes_in.load(Ordering::Relaxed)),
            link.counters.unexpected.load(Ordering::Relaxed)
        ),
    );
    report.add(
        "bytes to the bridge (whole run)",
        human_bytes(link.counters.bytes_out.load(Ordering::Relaxed)),
    );
    report.add(
        "largest stanza from the bridge",
        format!(
            "{} bytes ({})",
            link.counters.largest.load(Ordering::Relaxed),
            link.counters
                .largest_what
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default()
        ),
    );
    report.add("final RSS", mib(bridge.rss_kib()?));
    report.add(
        "load tool's own CPU (whole run)",
        own_cpu_secs(bridge.clk_tck).map_or_else(|| "?".to_owned(), |s| format!("{s:.3} s")),
    );
    if reconnects > 0 {
        return Err(
            format!("the bridge opened {reconnects} new connections during the run").into(),
        );
    }
    Ok(())
}

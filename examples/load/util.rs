//! Small helpers: the report, the configuration, the clock and the figures' units.

use super::*;

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) lines: Vec<(String, String)>,
}

impl Report {
    pub(crate) fn add(&mut self, name: &str, value: String) {
        self.lines.push((name.to_owned(), value));
    }

    pub(crate) fn print(&self) {
        let width = self
            .lines
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        for (name, value) in &self.lines {
            println!("{name:<width$}  {value}");
        }
    }
}

/// The bridge's configuration; `storage` is the `[storage]` line naming the database.
pub(crate) fn config_toml(port: u16, secret: &Path, storage: &str, http: Option<u16>) -> String {
    let http = match http {
        Some(port) => format!(
            "\n[http]\nlisten = \"127.0.0.1:{port}\"\nwebhook_allow = [\"127.0.0.1\"]\nmax_connections = 1024\n"
        ),
        None => String::new(),
    };
    format!(
        "admins = [\"admin@{DOMAIN}\"]\n\
         platforms = [\"arcade@{DOMAIN}\"]\n\
         \n\
         [component]\n\
         jid = \"{COMPONENT}\"\n\
         name = \"Game bridge (load test)\"\n\
         \n\
         [server]\n\
         host = \"127.0.0.1\"\n\
         port = {port}\n\
         domains = [\"{DOMAIN}\"]\n\
         secret_file = {}\n\
         \n\
         [link]\n\
         keepalive_secs = 30\n\
         response_timeout_secs = 15\n\
         iq_timeout_secs = 30\n\
         \n\
         [storage]\n\
         {storage}\n\
         \n\
         [logging]\n\
         level = \"warn\"\n\
         format = \"human\"\n\
         \n\
         # Every simulated user is visible, as if each had agreed: what is measured\n\
         # is an answer that discloses, and records it.\n\
         [privacy]\n\
         consent = \"opt-out\"\n{http}",
        toml_string(&secret.display().to_string()),
    )
}

pub(crate) fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Pins this program to every core but `cpu`, so it does not compete with the bridge.
pub(crate) fn pin_self_away_from(cpu: usize) -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let others: Vec<String> = (0..cores)
        .filter(|&c| c != cpu)
        .map(|c| c.to_string())
        .collect();
    if others.is_empty() || cpu >= cores {
        return "not pinned".to_owned();
    }
    let Some(taskset) = find_in_path("taskset") else {
        return "not pinned (no taskset)".to_owned();
    };
    let list = others.join(",");
    let ok = Command::new(taskset)
        .args(["-a", "-p", "-c", &list, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        format!("core(s) {list}")
    } else {
        "not pinned (taskset failed)".to_owned()
    }
}

/// This program's utime + stime, in seconds.
pub(crate) fn own_cpu_secs(clk_tck: f64) -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck)
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

pub(crate) fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub(crate) fn human_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20))
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

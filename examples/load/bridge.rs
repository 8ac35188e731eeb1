//! The bridge process: started pinned to one core, measured from `/proc`, stopped.

use super::*;

pub(crate) struct Bridge {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) clk_tck: f64,
    pub(crate) exited: Option<String>,
}

impl Bridge {
    pub(crate) fn check_alive(&mut self) -> Res<()> {
        if let Some(how) = &self.exited {
            return Err(format!("the bridge process has exited ({how})").into());
        }
        if let Some(status) = self.child.try_wait()? {
            let how = status.to_string();
            self.exited = Some(how.clone());
            return Err(format!("the bridge process has exited ({how})").into());
        }
        Ok(())
    }

    /// utime + stime, in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> Res<u64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .map_err(|e| format!("cannot read the bridge's /proc/{}/stat: {e}", self.pid))?;
        let after_comm = stat
            .rfind(')')
            .map(|p| &stat[p + 1..])
            .ok_or("unexpected /proc/PID/stat format")?;
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // Fields 14 and 15 of stat(5); `fields[0]` is field 3 (state).
        let utime: u64 = fields.get(11).ok_or("no utime in stat")?.parse()?;
        let stime: u64 = fields.get(12).ok_or("no stime in stat")?.parse()?;
        Ok(utime + stime)
    }

    pub(crate) fn secs(&self, ticks: u64) -> f64 {
        ticks as f64 / self.clk_tck
    }

    pub(crate) fn rss_kib(&self) -> Res<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid))
            .map_err(|e| format!("cannot read the bridge's /proc/{}/status: {e}", self.pid))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .ok_or("no VmRSS in /proc/PID/status")?;
        Ok(line
            .trim_start_matches("VmRSS:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?)
    }
}

/// SIGTERM, then waits (bounded) for the process to exit.
pub(crate) async fn stop_bridge(bridge: &mut Bridge, report: &mut Report) {
    if let Ok(Some(status)) = bridge.child.try_wait() {
        report.add("bridge exit", format!("had already exited ({status})"));
        return;
    }
    let t0 = Instant::now();
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(bridge.pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !sent {
        let _ = bridge.child.kill();
    }
    let deadline = t0 + Duration::from_secs(15);
    loop {
        match bridge.child.try_wait() {
            Ok(Some(status)) => {
                report.add(
                    "bridge exit after SIGTERM",
                    format!("{status} after {:.0} ms", t0.elapsed().as_secs_f64() * 1e3),
                );
                return;
            }
            Ok(None) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => {
                let _ = bridge.child.kill();
                let _ = bridge.child.wait();
                report.add(
                    "bridge exit after SIGTERM",
                    "DID NOT EXIT within 15 s: killed with SIGKILL".to_owned(),
                );
                return;
            }
        }
    }
}

//! What the chat server's own configuration file says about the settings the bridge
//! recommends, read as text: Prosody's `gc` and Nagle (`network_settings`), ejabberd's
//! `max_stanza_size` on its client and server listeners.
//!
//! Neither server tells a component these settings, so the doctor reads the files (it runs
//! on the server's machine, usually as root). The reading is line by line, as an operator
//! would look: comments are skipped, Prosody's `Include` and ejabberd's
//! `include_config_file` are followed, and a Prosody setting written under a
//! `VirtualHost` or `Component` line (where Prosody takes it as the host's, not the
//! server's) is told apart.

use std::path::{Path, PathBuf};

/// Files read at most, includes among them: a pattern that matches thousands of files
/// is not a configuration.
const MAX_FILES: usize = 64;

/// A setting found: its value as written, where, and whether it is global.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
    /// Prosody: before any `VirtualHost`/`Component` line of its file.
    pub global: bool,
}

/// Prosody's settings that matter to the bridge.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Prosody {
    pub files: Vec<PathBuf>,
    pub gc: Option<Found>,
    pub network_settings: Option<Found>,
}

impl Prosody {
    /// Whether `network_settings` turns Nagle's algorithm off.
    pub fn nagle_off(&self) -> bool {
        self.network_settings.as_ref().is_some_and(|f| {
            let compact: String = f.value.chars().filter(|c| !c.is_whitespace()).collect();
            compact.contains("nagle=false")
        })
    }
}

/// Reads the file at `path` and those it includes: `read` is given each file's path and
/// text, and a queue to put the files it includes on. The files read, in order.
fn read_with_includes(
    path: &Path,
    mut read: impl FnMut(&Path, &str, &mut Vec<PathBuf>),
) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut queue = vec![path.to_path_buf()];
    while let Some(file) = queue.pop() {
        if files.len() >= MAX_FILES {
            break;
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        read(&file, &text, &mut queue);
        files.push(file);
    }
    Ok(files)
}

/// Reads Prosody's configuration at `path` and the files it includes.
pub fn prosody(path: &Path) -> Result<Prosody, String> {
    let mut found = Prosody::default();
    found.files = read_with_includes(path, |file, text, queue| {
        let mut global = true;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split("--").next().unwrap_or("").trim();
            if line.starts_with("VirtualHost") || line.starts_with("Component") {
                global = false;
            }
            if let Some(pattern) = line.strip_prefix("Include").map(|rest| {
                rest.trim()
                    .trim_matches(|c| c == '"' || c == '\'' || c == '(' || c == ')')
            }) {
                let base = file.parent().unwrap_or(Path::new("/"));
                queue.extend(expand(base, pattern));
                continue;
            }
            let setting = |name: &str| {
                let rest = line.strip_prefix(name)?.trim_start();
                rest.strip_prefix('=').map(|v| v.trim().to_owned())
            };
            for (name, slot) in [
                ("gc", &mut found.gc),
                ("network_settings", &mut found.network_settings),
            ] {
                if let Some(value) = setting(name) {
                    // The last global one wins, as in Prosody; a host's stays as a hint.
                    if slot.as_ref().is_none_or(|f| global || !f.global) {
                        *slot = Some(Found {
                            value,
                            file: file.to_path_buf(),
                            line: n + 1,
                            global,
                        });
                    }
                }
            }
        }
    })?;
    Ok(found)
}

/// ejabberd's listeners: each one's module and `max_stanza_size`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ejabberd {
    pub files: Vec<PathBuf>,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub module: String,
    pub port: String,
    /// `None`: not set (ejabberd's default: no limit).
    pub max_stanza_size: Option<String>,
    pub file: PathBuf,
    pub line: usize,
}

/// Reads ejabberd's configuration at `path` and the files it includes.
pub fn ejabberd(path: &Path) -> Result<Ejabberd, String> {
    let mut found = Ejabberd::default();
    found.files = read_with_includes(path, |file, text, queue| {
        let mut top = "";
        let mut item: Option<Listener> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split(" #").next().unwrap_or("");
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            let trimmed = line.trim();
            if indent == 0 {
                if let Some(done) = item.take() {
                    found.listeners.push(done);
                }
                top = trimmed.split(':').next().unwrap_or("");
                if let Some(single) = trimmed.strip_prefix("include_config_file:") {
                    let single = single.trim().trim_matches('"');
                    if !single.is_empty() {
                        queue.push(relative(file, single));
                    }
                }
                continue;
            }
            match top {
                "include_config_file" => {
                    if let Some(included) = trimmed.strip_prefix("- ") {
                        queue.push(relative(file, included.trim().trim_matches('"')));
                    }
                }
                "listen" => {
                    // A new item: `-` alone or `- key: value`, at the list's indentation.
                    if trimmed == "-" || trimmed.starts_with("- ") {
                        if let Some(done) = item.take() {
                            found.listeners.push(done);
                        }
                        item = Some(Listener {
                            module: String::new(),
                            port: String::new(),
                            max_stanza_size: None,
                            file: file.to_path_buf(),
                            line: n + 1,
                        });
                    }
                    let pair = trimmed.trim_start_matches("- ");
                    if let (Some(item), Some((key, value))) = (item.as_mut(), pair.split_once(':'))
                    {
                        let value = value.trim().trim_matches('"').to_owned();
                        match key.trim() {
                            "module" => item.module = value,
                            "port" => item.port = value,
                            "max_stanza_size" => item.max_stanza_size = Some(value),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(done) = item.take() {
            found.listeners.push(done);
        }
    })?;
    Ok(found)
}

fn relative(file: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new("/")).join(path)
    }
}

/// The files an `Include` pattern names: a path, or a directory and `*` in its last part.
fn expand(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let path = relative(&base.join("x"), pattern);
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let Some((prefix, suffix)) = name.split_once('*') else {
        return vec![path];
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
                })
                .take(MAX_FILES)
                .collect()
        })
        .unwrap_or_default();
    // Read in the order Prosody includes them; the queue pops from the end.
    files.sort();
    files.reverse();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prosody_settings_are_found_through_includes_and_their_section_told() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("prosody.cfg.lua"),
            "-- gc = { mode = \"generational\" }\nadmins = { }\nVirtualHost \"localhost\"\ngc = { threshold = 1 }\nInclude \"conf.d/*.cfg.lua\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("conf.d/bridge.cfg.lua"),
            "gc = { threshold = 200; speed = 200 }\nnetwork_settings = { nagle = false }\nComponent \"game.example.org\"\n",
        )
        .unwrap();
        let found = prosody(&dir.path().join("prosody.cfg.lua")).unwrap();
        assert_eq!(found.files.len(), 2);
        let gc = found.gc.clone().unwrap();
        assert_eq!(gc.value, "{ threshold = 200; speed = 200 }");
        assert!(gc.global);
        assert!(found.nagle_off());
    }

    #[test]
    fn a_prosody_setting_under_a_host_is_not_global() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prosody.cfg.lua");
        std::fs::write(
            &path,
            "VirtualHost \"x\"\ngc = { threshold = 200; speed = 200 }\n",
        )
        .unwrap();
        let found = prosody(&path).unwrap();
        assert!(!found.gc.clone().unwrap().global);
        assert!(!found.nagle_off());
    }

    #[test]
    fn ejabberd_listeners_are_read_with_their_stanza_limits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bridge.yml"),
            "listen:\n  -\n    port: 5347\n    module: ejabberd_service\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("ejabberd.yml"),
            "hosts:\n  - localhost\n\nlisten:\n  -\n    port: 5222\n    ip: \"::\"\n    module: ejabberd_c2s\n    max_stanza_size: 262144\n  -\n    port: 5269 # s2s\n    module: ejabberd_s2s_in\n\ninclude_config_file:\n  - bridge.yml\n",
        )
        .unwrap();
        let found = ejabberd(&dir.path().join("ejabberd.yml")).unwrap();
        let summary: Vec<(&str, &str, Option<&str>)> = found
            .listeners
            .iter()
            .map(|l| {
                (
                    l.module.as_str(),
                    l.port.as_str(),
                    l.max_stanza_size.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("ejabberd_c2s", "5222", Some("262144")),
                ("ejabberd_s2s_in", "5269", None),
                ("ejabberd_service", "5347", None),
            ]
        );
    }
}

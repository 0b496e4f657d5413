//! A distribution's `/etc/wsl.conf`, read at each of its starts (SPEC §12):
//! `[user] default`, `[boot] command`, `[network] hostname`,
//! `generateHosts`, `generateResolvConf`. WSL's format is INI with `#`
//! comments and `true`/`false`; unknown keys are ignored, and a malformed
//! line is reported (file and line) and skipped, never the whole file.

use crate::fsutil::read_in_root;
use std::path::Path;

/// Where WSL looks, inside the distribution.
pub const WSL_CONF: &str = "/etc/wsl.conf";

/// More than any real wsl.conf; a bigger file is read this far.
const MAX_WSL_CONF: u64 = 64 << 10;

/// What a distribution's wsl.conf sets (the defaults when it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WslConf {
    /// `[user] default`: who commands without `-u` run as.
    pub default_user: Option<String>,
    /// `[boot] command`: run as root when the distribution starts.
    pub boot_command: Option<String>,
    /// `[network] hostname`.
    pub hostname: Option<String>,
    /// `[network] generateHosts` (default true).
    pub generate_hosts: bool,
    /// `[network] generateResolvConf` (default true).
    pub generate_resolv_conf: bool,
}

impl Default for WslConf {
    fn default() -> Self {
        WslConf {
            default_user: None,
            boot_command: None,
            hostname: None,
            generate_hosts: true,
            generate_resolv_conf: true,
        }
    }
}

/// A line of wsl.conf that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{WSL_CONF}:{}: {}; the line is ignored",
            self.line, self.message
        )
    }
}

/// Reads `<rootfs>/etc/wsl.conf` (symlinks resolved inside the rootfs). A
/// missing file is the defaults; an unreadable one too, reported as a problem
/// on line 0.
pub fn read_wsl_conf(rootfs: &Path) -> (WslConf, Vec<Problem>) {
    match read_in_root(rootfs, "etc/wsl.conf", MAX_WSL_CONF) {
        Ok(Some(bytes)) => parse_wsl_conf(&String::from_utf8_lossy(&bytes)),
        Ok(None) => (WslConf::default(), Vec::new()),
        Err(e) => (
            WslConf::default(),
            vec![Problem {
                line: 0,
                message: format!("cannot be read: {e}"),
            }],
        ),
    }
}

/// Parses INI text as WSL does. Each line the INI parser refuses is
/// reported and blanked, and the rest parsed again, so one bad line costs
/// only itself.
fn load_ini(text: &str) -> (ini::Ini, Vec<Problem>) {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut problems = Vec::new();
    let opt = || ini::ParseOption {
        enabled_quote: true,
        enabled_escape: false,
        ..ini::ParseOption::default()
    };
    let parsed = loop {
        match ini::Ini::load_from_str_opt(&lines.join("\n"), opt()) {
            Ok(i) => break i,
            Err(e) => {
                // Column 1: the parser stood on the newline that ends the bad
                // line, and counts it as the next one already.
                let at = if e.col == 1 {
                    e.line.saturating_sub(1)
                } else {
                    e.line
                }
                .max(1);
                problems.push(Problem {
                    line: at,
                    message: e.msg.to_string(),
                });
                match lines.get_mut(at - 1) {
                    Some(l) if !l.is_empty() => l.clear(),
                    // Not a line we can drop: give up on the rest.
                    _ => break ini::Ini::new(),
                }
            }
        }
    };
    (parsed, problems)
}

/// Parses wsl.conf text (see [`load_ini`] for bad lines).
pub fn parse_wsl_conf(text: &str) -> (WslConf, Vec<Problem>) {
    let (parsed, mut problems) = load_ini(text);
    let mut conf = WslConf::default();
    for (section, props) in parsed.iter() {
        let Some(section) = section else { continue };
        for (key, value) in props.iter() {
            let value = value.trim();
            let flag = |field: &mut bool, problems: &mut Vec<Problem>| match value
                .to_ascii_lowercase()
                .as_str()
            {
                "true" => *field = true,
                "false" => *field = false,
                _ => problems.push(Problem {
                    line: line_of(text, section, key),
                    message: format!("{key} = {value}: not true or false"),
                }),
            };
            let text_value = || (!value.is_empty()).then(|| value.to_owned());
            match (
                section.to_ascii_lowercase().as_str(),
                key.to_ascii_lowercase().as_str(),
            ) {
                ("user", "default") => conf.default_user = text_value(),
                ("boot", "command") => conf.boot_command = text_value(),
                ("network", "hostname") => conf.hostname = text_value(),
                ("network", "generatehosts") => flag(&mut conf.generate_hosts, &mut problems),
                ("network", "generateresolvconf") => {
                    flag(&mut conf.generate_resolv_conf, &mut problems)
                }
                _ => {}
            }
        }
    }
    problems.sort_by_key(|p| p.line);
    (conf, problems)
}

/// Where a `.wsl` file says how to install it (SPEC §12).
pub const DISTRIBUTION_CONF: &str = "/etc/wsl-distribution.conf";

/// What a `.wsl` file's `/etc/wsl-distribution.conf` says in `[oobe]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistributionConf {
    /// `defaultName`: the name when `--name` is absent.
    pub default_name: Option<String>,
    /// `defaultUid`: the default user.
    pub default_uid: Option<u32>,
    /// `command`: run once as root at the first start.
    pub command: Option<String>,
}

/// Parses `/etc/wsl-distribution.conf` text (bad lines as in wsl.conf).
pub fn parse_distribution_conf(text: &str) -> (DistributionConf, Vec<Problem>) {
    let (parsed, mut problems) = load_ini(text);
    let mut conf = DistributionConf::default();
    for (section, props) in parsed.iter() {
        if !section.is_some_and(|s| s.eq_ignore_ascii_case("oobe")) {
            continue;
        }
        for (key, value) in props.iter() {
            let value = value.trim();
            let text_value = || (!value.is_empty()).then(|| value.to_owned());
            match key.to_ascii_lowercase().as_str() {
                "defaultname" => conf.default_name = text_value(),
                "command" => conf.command = text_value(),
                "defaultuid" => match value.parse() {
                    Ok(uid) => conf.default_uid = Some(uid),
                    Err(_) => problems.push(Problem {
                        line: line_of(text, "oobe", key),
                        message: format!("{key} = {value}: not a uid"),
                    }),
                },
                _ => {}
            }
        }
    }
    problems.sort_by_key(|p| p.line);
    (conf, problems)
}

/// The line where `key` is set in `section` (for a value that is not
/// understood: the parser keeps no positions of good lines).
fn line_of(text: &str, section: &str, key: &str) -> usize {
    let mut current = String::new();
    let mut found = 0;
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = s.trim().to_ascii_lowercase();
        } else if current == section.to_ascii_lowercase()
            && l.split('=').next().is_some_and(|k| k.trim() == key)
        {
            found = i + 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_wsl_conf() {
        let (c, p) = parse_wsl_conf(
            "# WSL's own example\n[user]\ndefault=dev\n\n[boot]\ncommand = service ssh start && echo booted\n\
             [network]\nhostname = box\ngenerateHosts = false\ngenerateResolvConf = False\n[automount]\nenabled = true\n",
        );
        assert_eq!(p, []);
        assert_eq!(
            c,
            WslConf {
                default_user: Some("dev".into()),
                boot_command: Some("service ssh start && echo booted".into()),
                hostname: Some("box".into()),
                generate_hosts: false,
                generate_resolv_conf: false,
            }
        );
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number_and_the_rest_still_counts() {
        let (c, p) =
            parse_wsl_conf("[user]\ndefault=dev\n[network\nhostname=x\n[boot]\ncommand=true\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].line, 3);
        assert!(
            p[0].to_string().starts_with("/etc/wsl.conf:3: "),
            "{}",
            p[0]
        );
        assert_eq!(c.default_user.as_deref(), Some("dev"));
        assert_eq!(c.boot_command.as_deref(), Some("true"));
    }

    #[test]
    fn a_flag_that_is_not_a_boolean_keeps_its_default() {
        let (c, p) = parse_wsl_conf("[network]\n\ngenerateHosts = maybe\n");
        assert!(c.generate_hosts);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 3);
    }

    #[test]
    fn a_distribution_conf_names_the_oobe_settings() {
        let (c, p) = parse_distribution_conf(
            "[oobe]\ncommand = /etc/oobe.sh\ndefaultUid = 1000\ndefaultName = Tiny\n[shortcut]\nicon = /x.ico\n",
        );
        assert_eq!(p, []);
        assert_eq!(
            c,
            DistributionConf {
                default_name: Some("Tiny".into()),
                default_uid: Some(1000),
                command: Some("/etc/oobe.sh".into()),
            }
        );
        let (c, p) = parse_distribution_conf("[oobe]\ndefaultUid = me\n");
        assert_eq!((c.default_uid, p.len(), p[0].line), (None, 1, 2));
    }

    #[test]
    fn no_file_or_an_empty_one_is_the_defaults() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_wsl_conf(d.path()), (WslConf::default(), vec![]));
        assert_eq!(parse_wsl_conf(""), (WslConf::default(), vec![]));
    }

    #[test]
    fn a_symlink_cannot_point_it_at_the_host() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        let host = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(host.path(), "[user]\ndefault=hostfile\n").unwrap();
        std::os::unix::fs::symlink(host.path(), d.path().join("etc/wsl.conf")).unwrap();
        assert_eq!(read_wsl_conf(d.path()).0.default_user, None);
    }
}

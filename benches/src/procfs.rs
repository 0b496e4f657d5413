//! Memory and process-tree readings from /proc.

use std::collections::HashMap;
use std::fs;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, …) or `/proc/<pid>/smaps_rollup`
/// (`Pss`, …), in KiB. `None` when the process is gone or has no such field.
pub fn kib_field(pid: i32, file: &str, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    parse_kib_field(&text, field)
}

pub fn parse_kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Resident set size in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    kib_field(pid, "status", "VmRSS")
}

/// Proportional set size in KiB (shared pages divided among their users).
pub fn pss_kib(pid: i32) -> Option<u64> {
    kib_field(pid, "smaps_rollup", "Pss")
}

/// Kernel memory of the whole machine in KiB: `Slab + KernelStack + PageTables` of
/// /proc/meminfo (namespaces, mounts, tasks and their page tables are there).
pub fn kernel_kib() -> Option<u64> {
    let m = fs::read_to_string("/proc/meminfo").ok()?;
    ["Slab", "KernelStack", "PageTables"]
        .iter()
        .map(|f| parse_kib_field(&m, f))
        .sum()
}

/// (pid, ppid, comm) of every process.
pub fn processes() -> Vec<(i32, i32, String)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (comm, ppid) = parse_stat(&stat)?;
        Some((pid, ppid, comm))
    })
    .collect()
}

/// comm and ppid from a `/proc/<pid>/stat` line; comm may hold spaces and parentheses.
pub fn parse_stat(stat: &str) -> Option<(String, i32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let ppid = stat
        .get(close + 1..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((comm, ppid))
}

/// `root` and all its descendants.
pub fn tree(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (pid, ppid, _) in processes() {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

/// Sum of the PSS of a process tree in KiB.
pub fn tree_pss_kib(root: i32) -> u64 {
    tree(root).into_iter().filter_map(pss_kib).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let status = "Name:\tcat\nVmRSS:\t    1234 kB\nVmRSSX: 9 kB\n";
        assert_eq!(parse_kib_field(status, "VmRSS"), Some(1234));
        assert_eq!(parse_kib_field(status, "VmHWM"), None);
    }

    #[test]
    fn stat_with_odd_comm() {
        let (comm, ppid) = parse_stat("42 (a) b (c) S 7 42 42 0").unwrap();
        assert_eq!((comm.as_str(), ppid), ("a) b (c", 7));
    }

    #[test]
    fn own_tree_and_memory() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let t = tree(me);
        let _ = child.kill();
        let _ = child.wait();
        assert!(t.contains(&(child.id() as i32)), "{t:?}");
        assert!(rss_kib(me).unwrap() > 0);
        assert!(pss_kib(me).unwrap() > 0);
        assert!(kernel_kib().unwrap() > 0);
    }
}

//! `/etc/subuid` and `/etc/subgid` (subuid(5)): which host ids each account
//! may use in its user namespaces.

use std::path::Path;

/// The files, as shadow names them.
pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";

/// One `owner:start:count` line. `owner` is a user name or a numeric uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubIdEntry {
    pub owner: String,
    pub start: u64,
    pub count: u64,
}

impl SubIdEntry {
    /// Whether `[start, start + count)` meets this entry's ids.
    pub fn overlaps(&self, start: u64, count: u64) -> bool {
        start < self.start + self.count && self.start < start + count
    }
}

/// The entries of a subuid/subgid text; comments, blank and malformed lines
/// are skipped, as shadow skips them.
pub fn parse(text: &str) -> Vec<SubIdEntry> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let mut f = l.split(':');
            let owner = f.next()?.trim();
            let start = f.next()?.trim().parse().ok()?;
            let count: u64 = f.next()?.trim().parse().ok()?;
            if owner.is_empty() || count == 0 || f.next().is_some() {
                return None;
            }
            Some(SubIdEntry {
                owner: owner.to_string(),
                start,
                count,
            })
        })
        .collect()
}

/// Reads and parses a subuid/subgid file; a missing file has no entries.
pub fn read(path: &Path) -> std::io::Result<Vec<SubIdEntry>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(parse(&t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The first range of `name` (or of its numeric `uid`) with at least `count`
/// ids: `(start, count)` cut to `count`, as newuidmap would accept it.
pub fn range_of(
    entries: &[SubIdEntry],
    name: &str,
    uid: Option<u32>,
    count: u64,
) -> Option<(u64, u64)> {
    entries
        .iter()
        .filter(|e| e.owner == name || uid.is_some_and(|u| e.owner == u.to_string()))
        .find(|e| e.count >= count)
        .map(|e| (e.start, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_skips_junk() {
        let e = parse(
            "# c\nalice:100000:65536\n\nbad\n1001:200000:10\nx:1:0\ny:a:1\nwslp : 300000 : 65536\n",
        );
        assert_eq!(
            e,
            [
                SubIdEntry {
                    owner: "alice".into(),
                    start: 100000,
                    count: 65536
                },
                SubIdEntry {
                    owner: "1001".into(),
                    start: 200000,
                    count: 10
                },
                SubIdEntry {
                    owner: "wslp".into(),
                    start: 300000,
                    count: 65536
                },
            ]
        );
    }

    #[test]
    fn finds_a_range_by_name_or_uid_big_enough() {
        let e = parse("bob:1000:10\nbob:5000:70000\n1001:90000:65536\n");
        assert_eq!(range_of(&e, "bob", None, 65536), Some((5000, 65536)));
        assert_eq!(
            range_of(&e, "carol", Some(1001), 65536),
            Some((90000, 65536))
        );
        assert_eq!(range_of(&e, "carol", Some(1002), 1), None);
        assert!(e[1].overlaps(74999, 1));
        assert!(!e[1].overlaps(75000, 100));
    }
}

//! The result table: rows with p50/p99, the peer each is compared with, the ratio
//! and the goal; printed as text and written as JSON.

use crate::stats::Summary;
use serde::Serialize;
use std::fmt::Write as _;

/// What a row must reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Goal {
    /// p50 / peer p50 ≤ x (times).
    RatioAtMost(f64),
    /// p50 / peer p50 ≥ x (throughput).
    RatioAtLeast(f64),
    /// p50 ≤ x in the row's unit.
    ValueAtMost(f64),
    /// p50 − peer p50 ≤ x in the row's unit (what a change adds).
    AddsAtMost(f64),
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Goal::RatioAtMost(x) => write!(f, "<= {x}x"),
            Goal::RatioAtLeast(x) => write!(f, ">= {:.0} %", x * 100.0),
            Goal::ValueAtMost(x) => write!(f, "p50 <= {x}"),
            Goal::AddsAtMost(x) => write!(f, "<= +{x}"),
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub section: String,
    pub name: String,
    pub unit: String,
    pub p50: f64,
    /// None for single readings (memory, throughput of a whole run).
    pub p99: Option<f64>,
    pub samples: usize,
    /// The row this one is compared with, and its p50.
    pub peer: Option<String>,
    pub peer_p50: Option<f64>,
    /// p50 / peer p50.
    pub ratio: Option<f64>,
    pub goal: Option<Goal>,
    pub met: Option<bool>,
    pub note: Option<String>,
}

impl Row {
    pub fn new(section: &str, name: &str, unit: &str, s: Summary) -> Row {
        Row {
            section: section.into(),
            name: name.into(),
            unit: unit.into(),
            p50: s.p50,
            p99: Some(s.p99),
            samples: s.n,
            peer: None,
            peer_p50: None,
            ratio: None,
            goal: None,
            met: None,
            note: None,
        }
    }

    /// A figure measured once (or already aggregated), with no spread.
    pub fn single(section: &str, name: &str, unit: &str, value: f64) -> Row {
        Row {
            p99: None,
            samples: 1,
            ..Row::new(
                section,
                name,
                unit,
                Summary {
                    p50: value,
                    p99: value,
                    n: 1,
                },
            )
        }
    }

    /// Compares with `peer` (same unit), which was measured in the same run.
    pub fn against(mut self, peer: &Row) -> Row {
        self.peer = Some(peer.name.clone());
        self.peer_p50 = Some(peer.p50);
        self.ratio = (peer.p50 > 0.0).then(|| self.p50 / peer.p50);
        self.evaluate();
        self
    }

    pub fn goal(mut self, g: Goal) -> Row {
        self.goal = Some(g);
        self.evaluate();
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Row {
        self.note = Some(n.into());
        self
    }

    fn evaluate(&mut self) {
        self.met = match (self.goal, self.ratio) {
            (Some(Goal::RatioAtMost(x)), Some(r)) => Some(r <= x),
            (Some(Goal::RatioAtLeast(x)), Some(r)) => Some(r >= x),
            (Some(Goal::ValueAtMost(x)), _) => Some(self.p50 <= x),
            (Some(Goal::AddsAtMost(x)), _) => self.peer_p50.map(|p| self.p50 - p <= x),
            _ => None,
        };
    }
}

/// Every row of one run, with what the run was on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub machine: String,
    pub started_unix: u64,
    pub wall_seconds: f64,
    pub rows: Vec<Row>,
    /// How each cost grows, one sentence per scaling series.
    pub growth: Vec<String>,
}

impl Report {
    /// Adds a row and returns a copy to compare others against.
    pub fn add(&mut self, row: Row) -> Row {
        self.rows.push(row.clone());
        row
    }

    pub fn missed(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.met == Some(false)).collect()
    }

    /// The table as text: one block per section.
    pub fn table(&self) -> String {
        let name_w = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(10)
            .max(10);
        let peer_w = self
            .rows
            .iter()
            .filter_map(|r| r.peer.as_ref().map(|p| p.chars().count()))
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = String::new();
        let mut section = "";
        for r in &self.rows {
            if r.section != section {
                section = &r.section;
                let _ = writeln!(out, "\n== {section}");
                let _ = writeln!(
                    out,
                    "{:<name_w$}  {:>9}  {:>9}  {:<6}  {:<peer_w$}  {:>8}  {:<12}  status",
                    "measurement", "p50", "p99", "unit", "peer", "ratio", "goal"
                );
            }
            let p99 = r.p99.map(num).unwrap_or_else(|| "-".into());
            let ratio = r
                .ratio
                .map(|x| format!("{}x", num(x)))
                .unwrap_or_else(|| "-".into());
            let goal = r.goal.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
            let status = match r.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            let _ = writeln!(
                out,
                "{:<name_w$}  {:>9}  {:>9}  {:<6}  {:<peer_w$}  {:>8}  {:<12}  {status}",
                r.name,
                num(r.p50),
                p99,
                r.unit,
                r.peer.as_deref().unwrap_or("-"),
                ratio,
                goal,
            );
            if let Some(n) = &r.note {
                let _ = writeln!(out, "    ({n})");
            }
        }
        if !self.growth.is_empty() {
            let _ = writeln!(out, "\n== how costs grow");
            for g in &self.growth {
                let _ = writeln!(out, "- {g}");
            }
        }
        out
    }
}

/// Three significant figures or so, never scientific notation.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, p50: f64) -> Row {
        Row::new(
            "s",
            name,
            "ms",
            Summary {
                p50,
                p99: p50 * 2.0,
                n: 10,
            },
        )
    }

    #[test]
    fn ratio_and_goals() {
        let peer = row("bwrap", 4.0);
        let r = row("wslp", 3.0).against(&peer).goal(Goal::RatioAtMost(1.0));
        assert_eq!(r.ratio, Some(0.75));
        assert_eq!(r.met, Some(true));
        let r = row("wslp", 5.0).goal(Goal::RatioAtMost(1.0)).against(&peer);
        assert_eq!(r.met, Some(false));
        let r = row("sock", 3.0)
            .against(&peer)
            .goal(Goal::RatioAtLeast(0.9));
        assert_eq!(r.met, Some(false));
        let r = row("userns", 4.4)
            .against(&row("before", 4.0))
            .goal(Goal::AddsAtMost(0.5));
        assert_eq!(r.met, Some(true));
        let r = row("userns", 4.6)
            .goal(Goal::AddsAtMost(0.5))
            .against(&row("before", 4.0));
        assert_eq!(r.met, Some(false));
        assert_eq!(Goal::AddsAtMost(0.5).to_string(), "<= +0.5");
        let r = row("hook", 40.0).goal(Goal::ValueAtMost(50.0));
        assert_eq!(r.met, Some(true));
        assert_eq!(row("x", 1.0).met, None);
    }

    #[test]
    fn table_marks_missed_goals() {
        let mut rep = Report::default();
        let peer = rep.add(row("bwrap", 4.0));
        rep.add(row("wslp", 5.0).against(&peer).goal(Goal::RatioAtMost(1.0)));
        let t = rep.table();
        assert!(t.contains("MISSED"), "{t}");
        assert!(t.contains("1.25x"), "{t}");
        assert_eq!(rep.missed().len(), 1);
    }

    #[test]
    fn numbers() {
        assert_eq!(num(1234.6), "1235");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1.2345), "1.23");
        assert_eq!(num(0.01234), "0.012");
    }
}

//! The PNG chart: one horizontal bar per compared row, its ratio to its peer on a
//! log scale, the goal as a black tick, green when met, red when missed.

use crate::report::{num, Goal, Report};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;

/// Where Debian's fonts-dejavu-core puts its sans font.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Draws the chart of `report` into `out` (PNG).
pub fn draw(report: &Report, out: &Path) -> Result<(), String> {
    let font = std::fs::read(FONT).map_err(|e| {
        format!("cannot read the chart font {FONT}: {e}; install it with `apt-get install fonts-dejavu-core`")
    })?;
    // plotters keeps registered fonts for the process's life.
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| format!("{FONT} is not a usable TrueType font"))?;

    let rows: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.ratio.is_some_and(|x| x > 0.0))
        .collect();
    let mut sections: Vec<&str> = rows.iter().map(|r| r.section.as_str()).collect();
    sections.dedup();
    let (w, label_w, row_h, top) = (1500i32, 700i32, 24i32, 60i32);
    let lines = (rows.len() + sections.len()).max(1) as i32;
    let h = top + row_h * lines + 60;
    let root = BitMapBackend::new(out, (w as u32, h as u32)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| format!("drawing {}: {e:?}", out.display());
    root.fill(&WHITE).map_err(err)?;

    // Log scale: ratios span 0.001x (a function call against a socket) to 100x.
    let ratios = rows.iter().filter_map(|r| r.ratio);
    let lo = ratios.clone().fold(0.1f64, f64::min).log10().floor();
    let hi = ratios.fold(10.0f64, f64::max).log10().ceil();
    let plot_w = (w - label_w - 90) as f64;
    let x_of =
        |ratio: f64| label_w + ((ratio.log10().clamp(lo, hi) - lo) / (hi - lo) * plot_w) as i32;

    fn text<'a>(s: String, x: i32, y: i32, f: &TextStyle<'a>) -> Text<'a, (i32, i32), String> {
        Text::new(s, (x, y), f.clone())
    }
    let title: TextStyle = ("sans-serif", 20).into_font().into();
    let head = ("sans-serif", 15).into_font().color(&RGBColor(30, 30, 120));
    let small: TextStyle = ("sans-serif", 13).into_font().into();
    root.draw(&text(
        format!(
            "wslp benchmarks: p50 as a ratio to its peer, measured in the same run ({})",
            report.machine
        ),
        10,
        12,
        &title,
    ))
    .map_err(err)?;
    root.draw(&text(
        "green: goal met, red: missed, black tick: the goal; bars start at 1x".into(),
        10,
        36,
        &small,
    ))
    .map_err(err)?;
    let mut decade = lo;
    while decade <= hi {
        let r = 10f64.powf(decade);
        let x = x_of(r);
        root.draw(&PathElement::new(
            vec![(x, top - 4), (x, h - 50)],
            RGBColor(210, 210, 210),
        ))
        .map_err(err)?;
        root.draw(&text(format!("{}x", num(r)), x - 12, h - 44, &small))
            .map_err(err)?;
        decade += 1.0;
    }
    let one = x_of(1.0);
    root.draw(&PathElement::new(
        vec![(one, top - 4), (one, h - 50)],
        BLACK.stroke_width(2),
    ))
    .map_err(err)?;

    let mut y = top;
    let mut section = "";
    for r in &rows {
        if r.section != section {
            section = &r.section;
            root.draw(&text(section.to_string(), 8, y + 5, &head))
                .map_err(err)?;
            y += row_h;
        }
        let ratio = r.ratio.unwrap_or(1.0);
        let color = match r.met {
            Some(true) => RGBColor(60, 160, 80),
            Some(false) => RGBColor(210, 60, 50),
            None => RGBColor(120, 140, 170),
        };
        let label = format!("{}  vs  {}", r.name, r.peer.as_deref().unwrap_or("?"));
        let label: String = label.chars().take(96).collect();
        root.draw(&text(label, 24, y + 5, &small)).map_err(err)?;
        let (a, b) = (one.min(x_of(ratio)), one.max(x_of(ratio)));
        root.draw(&Rectangle::new(
            [(a, y + 3), (b.max(a + 5), y + row_h - 3)],
            color.filled(),
        ))
        .map_err(err)?;
        root.draw(&text(format!("{}x", num(ratio)), b + 6, y + 5, &small))
            .map_err(err)?;
        if let Some(Goal::RatioAtMost(g) | Goal::RatioAtLeast(g)) = r.goal {
            let x = x_of(g);
            root.draw(&PathElement::new(
                vec![(x, y), (x, y + row_h)],
                BLACK.stroke_width(3),
            ))
            .map_err(err)?;
        }
        y += row_h;
    }
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Row;
    use crate::stats::Summary;

    #[test]
    fn draws_a_png() {
        let mut rep = Report {
            machine: "test".into(),
            ..Report::default()
        };
        let s = |p50| Summary {
            p50,
            p99: p50,
            n: 1,
        };
        let peer = rep.add(Row::new("a", "peer", "ms", s(2.0)));
        rep.add(
            Row::new("a", "met", "ms", s(1.0))
                .against(&peer)
                .goal(Goal::RatioAtMost(1.0)),
        );
        rep.add(
            Row::new("b", "missed", "ms", s(0.0))
                .against(&peer)
                .goal(Goal::RatioAtLeast(0.9)),
        );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("chart.png");
        draw(&rep, &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
}

//! SVG charts of simulation runs (feature `svg`): demand and capacity in
//! the upper panel, requested replicas in the lower one, one colour per
//! policy, so two policies compare at a glance.
//!
//! Drawing uses plotters' SVG backend only, so it needs no font files or
//! system libraries; text is emitted as SVG `<text>` for the viewer to
//! render.
//!
//! ```
//! use resilience_scaling::sim::{chart, FnPolicy, SimConfig, Simulator, Trace};
//! let trace = Trace::from_csv("0,5\n60,8\n120,12\n180,6\n").unwrap();
//! let sim = Simulator::new(SimConfig { initial_replicas: 6, decision_interval: std::time::Duration::from_secs(60), ..SimConfig::default() });
//! let r = sim.run(&trace, &mut FnPolicy::new("follow", |o| o.demand.ceil() as u32));
//! let svg = chart::render_svg("demo", &[&r], (800, 500)).unwrap();
//! assert!(svg.starts_with("<svg") && svg.contains("follow"));
//! ```

use std::path::Path;

use plotters::prelude::*;

use super::{Report, SimError};

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn err<E: std::fmt::Display>(e: E) -> SimError {
    SimError::Chart(e.to_string())
}

fn finite_max(it: impl Iterator<Item = f64>) -> f64 {
    it.filter(|v| v.is_finite()).fold(0.0, f64::max)
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    reports: &[&Report],
) -> Result<(), SimError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
    let (upper, lower) = root.split_vertically(root.dim_in_pixel().1 / 2);
    let hours = finite_max(
        reports
            .iter()
            .flat_map(|r| r.series.last().map(|p| p.t_hours)),
    )
    .max(1e-3);
    let top = finite_max(
        reports
            .iter()
            .flat_map(|r| r.series.iter().flat_map(|p| [p.demand, p.capacity])),
    )
    .max(1e-3)
        * 1.05;
    let rep_top = finite_max(
        reports
            .iter()
            .flat_map(|r| r.series.iter().map(|p| p.replicas)),
    )
    .max(1.0)
        * 1.05;

    let mut c = ChartBuilder::on(&upper)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .caption("demand and ready capacity", ("sans-serif", 16))
        .build_cartesian_2d(0.0..hours, 0.0..top)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("hours")
        .y_desc("demand")
        .draw()
        .map_err(err)?;
    if let Some(first) = reports.first() {
        c.draw_series(LineSeries::new(
            first.series.iter().map(|p| (p.t_hours, p.demand)),
            BLACK.stroke_width(1),
        ))
        .map_err(err)?
        .label("demand")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x.saturating_add(20), y)], BLACK));
    }
    for (i, r) in reports.iter().enumerate() {
        let color = COLORS[i.checked_rem(COLORS.len()).unwrap_or(0)];
        c.draw_series(LineSeries::new(
            r.series.iter().map(|p| (p.t_hours, p.capacity)),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(format!("capacity: {}", r.policy))
        .legend(move |(x, y)| {
            PathElement::new(
                vec![(x, y), (x.saturating_add(20), y)],
                color.stroke_width(2),
            )
        });
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;

    let mut c = ChartBuilder::on(&lower)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .caption("requested replicas", ("sans-serif", 16))
        .build_cartesian_2d(0.0..hours, 0.0..rep_top)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("hours")
        .y_desc("replicas")
        .draw()
        .map_err(err)?;
    for (i, r) in reports.iter().enumerate() {
        let color = COLORS[i.checked_rem(COLORS.len()).unwrap_or(0)];
        c.draw_series(LineSeries::new(
            r.series.iter().map(|p| (p.t_hours, p.replicas)),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(r.policy.clone())
        .legend(move |(x, y)| {
            PathElement::new(
                vec![(x, y), (x.saturating_add(20), y)],
                color.stroke_width(2),
            )
        });
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Renders the reports to an SVG document in memory.
pub fn render_svg(title: &str, reports: &[&Report], size: (u32, u32)) -> Result<String, SimError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(root, title, reports)?;
    }
    Ok(out)
}

/// Renders the reports and writes the SVG to `path`.
///
/// ```no_run
/// # use resilience_scaling::sim::{chart, Report};
/// # fn demo(a: &Report, b: &Report) -> Result<(), resilience_scaling::sim::SimError> {
/// chart::write_svg("week.svg", "GPU pool: rules vs HPA", &[a, b], (1400, 800))?;
/// # Ok(()) }
/// ```
pub fn write_svg(
    path: impl AsRef<Path>,
    title: &str,
    reports: &[&Report],
    size: (u32, u32),
) -> Result<(), SimError> {
    let svg = render_svg(title, reports, size)?;
    std::fs::write(path.as_ref(), svg)
        .map_err(|e| SimError::Chart(format!("{}: {e}", path.as_ref().display())))
}

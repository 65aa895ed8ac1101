//! The report's plots, each as SVG and PNG (plotters): tok/s and TTFT by category per engine,
//! memory over the run with load and end marked, the leak regression, and context length
//! against tok/s and memory. PNG text uses DejaVu Sans from the system (fonts-dejavu-core).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::results::Results;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];
const SIZE: (u32, u32) = (900, 540);
const COLORS: [RGBColor; 4] = [
    RGBColor(33, 102, 172),
    RGBColor(214, 96, 77),
    RGBColor(27, 158, 119),
    RGBColor(117, 112, 179),
];
const MB: f64 = 1e6;

type PlotResult = Result<(), String>;

/// Registers a system font for the bitmap backend, once.
fn font_ready() -> Result<(), String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let bytes = FONT_PATHS
                .iter()
                .find_map(|p| std::fs::read(p).ok())
                .ok_or_else(|| format!("no font found (looked for {})", FONT_PATHS.join(", ")))?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| "invalid font file".to_string())
        })
        .clone()
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One named series of (x, y) points; `line` joins them instead of drawing dots.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub line: bool,
    /// Points to mark with a label (e.g. "load", "end").
    pub marks: Vec<(f64, f64, String)>,
}

fn bars<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> PlotResult {
    root.fill(&WHITE).map_err(err)?;
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.15;
    let n = categories.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, 0f64..max)
        .map_err(err)?;
    let cats = categories.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.26 {
                cats.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .draw()
        .map_err(err)?;
    let width = 0.8 / series.len().max(1) as f64;
    for (s, (name, values)) in series.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let x0 = i as f64 + 0.1 + s as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, *v)], color.filled())
            }))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> PlotResult {
    root.fill(&WHITE).map_err(err)?;
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().copied()).collect();
    let (x0, x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 - 1.0, x0 + 1.0) };
    let pad = ((y1 - y0) * 0.1).max(y1.abs() * 0.02).max(1e-6);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let drawn = if s.line {
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
        } else {
            chart
                .draw_series(s.points.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(err)?
        };
        drawn
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        for (x, y, text) in &s.marks {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((*x, *y))
                        + Cross::new((0, 0), 6, BLACK.stroke_width(2))
                        + Text::new(text.clone(), (6, -14), ("sans-serif", 14)),
                ))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

macro_rules! render {
    ($dir:expr, $stem:expr, $plot:ident ( $($arg:expr),* )) => {{
        let svg = $dir.join(format!("{}.svg", $stem));
        let png = $dir.join(format!("{}.png", $stem));
        $plot(SVGBackend::new(&svg, SIZE).into_drawing_area(), $($arg),*)?;
        $plot(BitMapBackend::new(&png, SIZE).into_drawing_area(), $($arg),*)?;
        vec![svg, png]
    }};
}

/// Every plot the results allow, into `dir/plots/`. Returns the files written.
pub fn write_plots(dir: &Path, r: &Results) -> Result<Vec<PathBuf>, String> {
    font_ready()?;
    let dir = dir.join("plots");
    std::fs::create_dir_all(&dir).map_err(err)?;
    let mut files = vec![];
    let categories: Vec<String> = r
        .summaries
        .iter()
        .flat_map(|s| s.per_category.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !categories.is_empty() {
        let metric = |f: fn(&crate::results::MetricSummaries) -> Option<f64>| -> Vec<(String, Vec<f64>)> {
            r.summaries
                .iter()
                .map(|s| {
                    (
                        s.engine.clone(),
                        categories
                            .iter()
                            .map(|c| s.per_category.get(c).and_then(f).unwrap_or(0.0))
                            .collect(),
                    )
                })
                .collect()
        };
        let tps = metric(|m| m.decode_tps.as_ref().map(|x| x.mean));
        let ttft = metric(|m| m.ttft_ms.as_ref().map(|x| x.mean));
        files.extend(render!(
            dir,
            "tokps_by_category",
            bars("Decode tok/s by category", "tok/s", &categories, &tps)
        ));
        files.extend(render!(
            dir,
            "ttft_by_category",
            bars("Time to first token by category", "TTFT (ms)", &categories, &ttft)
        ));
    }
    // Memory over the run: after load, after each generation, at the end.
    let memory: Vec<Series> = r
        .engines
        .iter()
        .filter(|e| e.endpoint.is_none())
        .filter_map(|e| {
            let load = e.memory_after_load?.rss_bytes as f64 / MB;
            let mut points = vec![(0.0, load)];
            points.extend(
                e.runs
                    .iter()
                    .enumerate()
                    .map(|(i, run)| ((i + 1) as f64, run.memory_after.rss_bytes as f64 / MB)),
            );
            let mut marks = vec![(0.0, load, "load".to_string())];
            if let Some(end) = e.memory_at_end {
                let x = points.len() as f64;
                points.push((x, end.rss_bytes as f64 / MB));
                marks.push((x, end.rss_bytes as f64 / MB, "end (unload)".into()));
            }
            (points.len() > 1).then(|| Series {
                name: e.engine.clone(),
                points,
                line: true,
                marks,
            })
        })
        .collect();
    if !memory.is_empty() {
        files.extend(render!(
            dir,
            "memory_over_run",
            lines("Process RSS over the run", "generation", "RSS (MB)", &memory)
        ));
    }
    for (e, s) in r.engines.iter().zip(&r.summaries) {
        let Some(fit) = s.leak.as_ref().and_then(|l| l.rss.as_ref()).map(|a| a.fit.clone()) else {
            continue;
        };
        let points: Vec<(f64, f64)> = e
            .leak
            .iter()
            .map(|l| (l.iteration as f64, l.memory.rss_bytes as f64 / MB))
            .collect();
        let last = points.last().map_or(0.0, |p| p.0);
        let series = vec![
            Series {
                name: format!("{} RSS", e.engine),
                points,
                line: false,
                marks: vec![],
            },
            Series {
                name: format!("fit: {:.4} MB/iteration, R² {:.2}", fit.slope, fit.r2),
                points: vec![(0.0, fit.intercept), (last, fit.intercept + fit.slope * last)],
                line: true,
                marks: vec![],
            },
        ];
        let stem = format!("leak_{}", e.engine);
        files.extend(render!(
            dir,
            stem,
            lines("Memory per iteration (leak suite)", "iteration", "RSS (MB)", &series)
        ));
    }
    for e in r.engines.iter().filter(|e| !e.routing.is_empty()) {
        let mut all = parallax_core::RoutingCounts::default();
        for rec in &e.routing {
            all.add(&rec.counts);
        }
        let series: Vec<Series> = all
            .counts
            .iter()
            .enumerate()
            .map(|(layer, c)| Series {
                name: format!("layer {layer}"),
                points: c.iter().enumerate().map(|(i, &n)| (i as f64, n as f64)).collect(),
                line: true,
                marks: vec![],
            })
            .collect();
        let stem = format!("routing_{}", e.engine);
        files.extend(render!(
            dir,
            stem,
            lines("Tokens per expert, by layer", "expert", "tokens", &series)
        ));
    }
    let ctx = |f: fn(&crate::record::ContextRecord) -> f64| -> Vec<Series> {
        r.engines
            .iter()
            .filter(|e| !e.context.is_empty())
            .map(|e| Series {
                name: e.engine.clone(),
                points: e.context.iter().map(|c| (c.context_length as f64, f(c))).collect(),
                line: true,
                marks: e
                    .context
                    .iter()
                    .filter(|c| c.truncated)
                    .map(|c| (c.context_length as f64, f(c), "TRUNCATED".into()))
                    .collect(),
            })
            .collect()
    };
    let ctx_tps = ctx(|c| c.decode_tps);
    if !ctx_tps.is_empty() {
        let ctx_mem = ctx(|c| c.peak_rss_bytes as f64 / MB);
        files.extend(render!(
            dir,
            "context_tokps",
            lines("Decode tok/s by context length", "context (tokens)", "tok/s", &ctx_tps)
        ));
        files.extend(render!(
            dir,
            "context_memory",
            lines(
                "Peak RSS by context length",
                "context (tokens)",
                "peak RSS (MB)",
                &ctx_mem
            )
        ));
    }
    Ok(files)
}

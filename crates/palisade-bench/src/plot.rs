//! The growth plot: events per second against fleet size, as SVG.

use std::path::Path;

use plotters::prelude::*;

/// One line of the plot.
pub struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    /// (devices, events per second) points.
    pub points: &'a [(usize, f64)],
    /// Line colour.
    pub color: RGBColor,
}

/// Writes an SVG plot of `series` to `path`, with a logarithmic x axis
/// (devices) and a linear y axis (events per second).
pub fn throughput_vs_fleet(path: &Path, title: &str, series: &[Series<'_>]) -> Result<(), String> {
    let max_devices = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(10)
        .max(10) as f64;
    let max_rate = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    let error =
        |e: DrawingAreaErrorKind<std::io::Error>| format!("drawing {} failed: {e}", path.display());
    root.fill(&WHITE).map_err(error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((5f64..max_devices * 2.0).log_scale(), 0f64..max_rate * 1.15)
        .map_err(error)?;
    chart
        .configure_mesh()
        .x_desc("devices (log scale)")
        .y_desc("events per second")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(error)?;
    for line in series {
        let points: Vec<(f64, f64)> = line.points.iter().map(|(d, r)| (*d as f64, *r)).collect();
        let color = line.color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(error)?
            .label(line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(error)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(error)?;
    root.present().map_err(error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_with_text() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plot.svg");
        let palisade = [(10, 1_000.0), (100, 5_000.0), (1_000, 4_000.0)];
        let mqtt = [(10, 2_000.0), (100, 9_000.0), (1_000, 8_000.0)];
        throughput_vs_fleet(
            &path,
            "test plot",
            &[
                Series {
                    label: "Palisade",
                    points: &palisade,
                    color: BLUE,
                },
                Series {
                    label: "MQTT + JSON",
                    points: &mqtt,
                    color: RED,
                },
            ],
        )
        .expect("plot written");
        let svg = std::fs::read_to_string(&path).expect("svg readable");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("test plot"));
        assert!(svg.contains("MQTT + JSON"));
        assert!(svg.contains("<circle"));
    }
}

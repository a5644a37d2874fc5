//! What every plot looks like: the palette, the image size, font sizes and
//! tick labels.

use plotters::style::RGBColor;

/// Series colours (matplotlib's tab10), in order; repeats after ten.
pub const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th series colour.
pub fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Image size in pixels (SVG user units).
pub const SIZE: (u32, u32) = (1000, 620);
pub const TITLE_PX: u32 = 22;
pub const LABEL_PX: u32 = 15;
pub const LEGEND_PX: u32 = 14;

/// A tick label: whole numbers plainly, fractions with their first
/// significant digit (0.001, 0.25).
pub fn format_tick(v: f64) -> String {
    if v.abs() >= 100.0 || (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        let decimals = ((-v.abs().log10()).ceil() as usize).clamp(1, 12) + 1;
        let s = format!("{v:.decimals$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A value written on a chart (heat-map cells): three significant digits.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_readable() {
        assert_eq!(format_tick(1000.0), "1000");
        assert_eq!(format_tick(0.001), "0.001");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(3.16), "3.2");
        assert_eq!(format_value(1234.5), "1234");
        assert_eq!(format_value(12.345), "12.35");
    }
}

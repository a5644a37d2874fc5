//! Where a figure is drawn: an SVG or PNG file, chosen by the output's
//! extension, written whole or not at all ([`crate::output`]).

use super::style::SIZE;
use anyhow::{bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// A drawing step's error, as text (the backends' error types differ).
pub type DrawResult<T = ()> = Result<T, String>;

/// `?` for plotters' results inside [`Figure::draw`].
pub trait OrDraw<T> {
    fn or_draw(self) -> DrawResult<T>;
}

impl<T, E: std::fmt::Display> OrDraw<T> for Result<T, E> {
    fn or_draw(self) -> DrawResult<T> {
        self.map_err(|e| e.to_string())
    }
}

/// A plot that can draw itself on any plotters backend.
pub trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

/// The image formats `sim plot` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// The format of `out`, from its extension.
    pub fn of(out: &Path) -> Result<Format> {
        let ext = out
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => bail!(
                "{}: unknown image format; name the output OUT.svg or OUT.png",
                out.display()
            ),
        }
    }
}

/// Where a figure goes.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The image (SVG or PNG by extension).
    pub out: &'a Path,
    /// The file plotted, which `out` must not be.
    pub input: &'a Path,
    /// The font (default: [`super::font::FONT_CANDIDATES`]).
    pub font: Option<&'a Path>,
}

impl Target<'_> {
    /// Loads the font and draws `figure` into the image.
    pub fn render(&self, figure: &impl Figure) -> Result<()> {
        super::font::load_font(self.font)?;
        render(figure, self.out, self.input)
    }
}

/// Draws `figure` into `out` (SVG or PNG by extension); `input` is the
/// file plotted, which `out` must not be. The font must be loaded.
pub fn render(figure: &impl Figure, out: &Path, input: &Path) -> Result<()> {
    let format = Format::of(out)?;
    let file = crate::output::Output::new(out, &[("plotted file", input)])?;
    let tmp = file.tmp_path();
    let drawn = match format {
        Format::Svg => draw_on(figure, SVGBackend::new(tmp, SIZE).into_drawing_area()),
        Format::Png => draw_on(figure, BitMapBackend::new(tmp, SIZE).into_drawing_area()),
    };
    drawn
        .map_err(|msg| anyhow::anyhow!(msg))
        .with_context(|| format!("drawing {}", out.display()))?;
    file.commit()?;
    Ok(())
}

fn draw_on<DB: DrawingBackend>(figure: &impl Figure, root: DrawingArea<DB, Shift>) -> DrawResult {
    root.fill(&WHITE).or_draw()?;
    figure.draw(&root)?;
    root.present().or_draw()
}

//! The one font of every plot (`sim plot`, `sim trace stats`): text needs a
//! TrueType font, loaded once from `--font` or the usual system folders
//! (Debian: `fonts-dejavu-core`) and registered as plotters' "sans-serif",
//! so no fontconfig library is involved.

use plotters::style::{register_font, FontStyle};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where fonts usually are (Debian/Ubuntu, Fedora, Arch).
pub const FONT_CANDIDATES: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("no font for plot text: none of {tried} exists; install one (Debian: `apt-get install fonts-dejavu-core`) or pass --font FILE.ttf")]
    NoFont { tried: String },
    #[error("cannot read font {path}: {err}")]
    ReadFont { path: String, err: std::io::Error },
    #[error("{path} is not a TrueType/OpenType font plotters can use")]
    BadFont { path: String },
    /// A font error from the first load, replayed (the font loads once).
    #[error("{0}")]
    Replayed(String),
}

static FONT: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the font as plotters' "sans-serif" (once per process; the
/// first call's font wins).
pub fn load_font(font: Option<&Path>) -> Result<(), FontError> {
    let result = FONT.get_or_init(|| load(font).map_err(|e| e.to_string()));
    result.clone().map_err(FontError::Replayed)
}

fn load(font: Option<&Path>) -> Result<(), FontError> {
    let path = match font {
        Some(p) => p.to_path_buf(),
        None => FONT_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| FontError::NoFont {
                tried: FONT_CANDIDATES.join(", "),
            })?,
    };
    let name = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|err| FontError::ReadFont {
        path: name.clone(),
        err,
    })?;
    // plotters keeps fonts for the life of the process; leaking the one
    // font file (a few hundred KB) is that lifetime, once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| FontError::BadFont { path: name })
}

//! Pictures: learning curves, accuracy per depth, confusion heat-maps. SVG or PNG by the path's
//! extension.
//!
//! Text is drawn with DejaVu Sans, compiled into the crate and registered with plotters' `ab_glyph`
//! font table as `sans-serif`, so nothing depends on the fonts of the machine (a CI machine has
//! none). SVG files name the family `sans-serif` and leave the drawing to the viewer, whose fonts
//! fall back per character. PNG text is rasterised by plotters from that one font, with no
//! per-character fallback. A text with characters DejaVu Sans lacks (Chinese, Japanese, Korean,
//! ...) is drawn with a system font that has them all, found through fontconfig (`fc-list
//! :charset=...`) where it is installed; else it shows as boxes. The PNG functions return
//! [`Drawn`], which says both, for the caller to name (the SVG beside it shows every text).

use crate::ReportError;
use crate::ResultRow;
use crate::field::{Field, FieldValue};
use crate::stats;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontFamily, FontStyle, RGBAColor, register_font};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;
use tune_spec::EpochMetrics;

const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Train and validation colours (Tableau blue and orange), and more for data sets.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
const GRID: RGBColor = RGBColor(220, 220, 220);
const DARK: RGBColor = RGBColor(40, 40, 40);

fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType font (tests draw text with it), so this cannot fail.
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if register_font(FONT, style, DEJAVU_SANS).is_err() {
                panic!("the embedded DejaVu Sans font does not parse");
            }
        }
    });
}

/// The texts of a PNG picture (class names, titles) with characters that DejaVu Sans, the font
/// PNG text is drawn with, lacks: drawn with a system font that has them, or shown as boxes where
/// there is none. Always empty for SVG, whose text the viewer's fonts draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drawn {
    /// Each such text once, in drawing order, with its characters no font at hand has.
    pub missing_glyphs: Vec<(String, Vec<char>)>,
    /// Each text drawn with a system font instead, as DejaVu Sans lacks some of its characters,
    /// with that font's file (found through fontconfig).
    pub fallback_fonts: Vec<(String, PathBuf)>,
}

/// The characters of `text` that DejaVu Sans (the PNG font) has no glyph for, each once, in
/// order; control characters are not drawn and not counted.
pub fn png_font_lacks(text: &str) -> Vec<char> {
    use ab_glyph::Font as _;
    static PARSED: std::sync::OnceLock<Option<ab_glyph::FontRef<'static>>> =
        std::sync::OnceLock::new();
    let Some(font) = PARSED.get_or_init(|| ab_glyph::FontRef::try_from_slice(DEJAVU_SANS).ok())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in text.chars() {
        if !c.is_control() && font.glyph_id(c).0 == 0 && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// A system font loaded for PNG text: its plotters family name, its file, the font.
type Fallback = (&'static str, &'static Path, ab_glyph::FontRef<'static>);

/// A system font with every one of `chars`, registered with plotters under a family name of its
/// own, and its file: one loaded before if it has them, else the first that fontconfig lists
/// ([`find_fallback_font`]); `None` where fontconfig's `fc-list` is missing or lists no font
/// that has them (asked once per set of characters). A font loaded stays for the process.
fn fallback_font(chars: &[char]) -> Option<(&'static str, &'static Path)> {
    use ab_glyph::Font as _;
    static LOADED: std::sync::Mutex<Vec<Fallback>> = std::sync::Mutex::new(Vec::new());
    static NOT_FOUND: std::sync::Mutex<Vec<Vec<char>>> = std::sync::Mutex::new(Vec::new());
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    let covers = |font: &ab_glyph::FontRef<'static>| chars.iter().all(|&c| font.glyph_id(c).0 != 0);
    if let Some((family, path, _)) = loaded.iter().find(|(_, _, font)| covers(font)) {
        return Some((*family, *path));
    }
    let mut not_found = NOT_FOUND.lock().unwrap_or_else(|e| e.into_inner());
    if not_found.iter().any(|c| c == chars) {
        return None;
    }
    let tried: Vec<&Path> = loaded.iter().map(|(_, path, _)| *path).collect();
    match find_fallback_font(chars, &tried) {
        Some(font) => {
            let found = (font.0, font.1);
            loaded.push(font);
            Some(found)
        }
        None => {
            not_found.push(chars.to_vec());
            None
        }
    }
}

/// Asks fontconfig for the fonts that have all of `chars` (`fc-list :charset=HEX...`), regular
/// sans-serif faces first, and loads and registers the first (of at most 8, not among `tried`)
/// whose file (its first face) has them.
fn find_fallback_font(chars: &[char], tried: &[&Path]) -> Option<Fallback> {
    use ab_glyph::Font as _;
    let charset: Vec<String> = chars
        .iter()
        .map(|&c| format!("{:x}", u32::from(c)))
        .collect();
    let listed = std::process::Command::new("fc-list")
        .arg("--format=%{file}\\n")
        .arg(format!(":charset={}", charset.join(" ")))
        .output()
        .ok()?;
    let listed = String::from_utf8_lossy(&listed.stdout);
    let mut files: Vec<&str> = listed
        .lines()
        .filter(|l| !l.is_empty() && !tried.contains(&Path::new(l)))
        .collect();
    let plain = |f: &str| {
        let name = f.rsplit('/').next().unwrap_or(f);
        [
            "Bold",
            "Italic",
            "Oblique",
            "Mono",
            "Serif",
            "Condensed",
            "Light",
        ]
        .iter()
        .filter(|w| name.contains(**w))
        .count()
    };
    files.sort_by_key(|f| (plain(f), f.to_string()));
    for file in files.into_iter().take(8) {
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        let covers = ab_glyph::FontRef::try_from_slice(&bytes)
            .is_ok_and(|font| chars.iter().all(|&c| font.glyph_id(c).0 != 0));
        if !covers {
            continue;
        }
        // plotters keeps fonts as `&'static [u8]`: a font used stays for the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let font = ab_glyph::FontRef::try_from_slice(bytes).ok()?;
        let family: &'static str = Box::leak(format!("tune fallback {file}").into_boxed_str());
        for style in [FontStyle::Normal, FontStyle::Bold] {
            register_font(family, style, bytes).ok()?;
        }
        let path: &'static Path = Box::leak(PathBuf::from(file).into_boxed_path());
        return Some((family, path, font));
    }
    None
}

/// A PNG backend that draws every text with characters DejaVu Sans lacks in a system font that
/// has them (see [`fallback_font`]), noting it or, where there is none, the characters that show
/// as boxes ([`Drawn`]); otherwise it draws exactly as [`BitMapBackend`].
struct GlyphCheck<'a> {
    inner: BitMapBackend<'a>,
    missing: std::rc::Rc<std::cell::RefCell<Drawn>>,
}

type BackendResult<'a> = Result<
    (),
    plotters_backend::DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>,
>;

impl<'a> DrawingBackend for GlyphCheck<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> BackendResult<'a> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> BackendResult<'a> {
        self.inner.present()
    }
    fn draw_pixel(
        &mut self,
        point: plotters_backend::BackendCoord,
        color: plotters_backend::BackendColor,
    ) -> BackendResult<'a> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: plotters_backend::BackendCoord,
        to: plotters_backend::BackendCoord,
        style: &S,
    ) -> BackendResult<'a> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: plotters_backend::BackendCoord,
        bottom_right: plotters_backend::BackendCoord,
        style: &S,
        fill: bool,
    ) -> BackendResult<'a> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = (i32, i32)>>(
        &mut self,
        path: I,
        style: &S,
    ) -> BackendResult<'a> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: plotters_backend::BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> BackendResult<'a> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = (i32, i32)>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> BackendResult<'a> {
        self.inner.fill_polygon(vert, style)
    }
    fn draw_text<T: plotters_backend::BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: plotters_backend::BackendCoord,
    ) -> BackendResult<'a> {
        let lacks = png_font_lacks(text);
        if lacks.is_empty() {
            return self.inner.draw_text(text, style, pos);
        }
        let fallback = fallback_font(&lacks);
        {
            let mut drawn = self.missing.borrow_mut();
            let seen = drawn.missing_glyphs.iter().any(|(t, _)| t == text)
                || drawn.fallback_fonts.iter().any(|(t, _)| t == text);
            match fallback {
                _ if seen => {}
                Some((_, file)) => drawn
                    .fallback_fonts
                    .push((text.to_string(), file.to_path_buf())),
                None => drawn.missing_glyphs.push((text.to_string(), lacks)),
            }
        }
        let Some((family, _)) = fallback else {
            return self.inner.draw_text(text, style, pos);
        };
        let c = style.color();
        let colour = RGBAColor(c.rgb.0, c.rgb.1, c.rgb.2, c.alpha);
        let font = FontDesc::new(FontFamily::Name(family), style.size(), style.style())
            .transform(style.transform());
        self.inner
            .draw_text(text, &font.color(&colour).pos(style.anchor()), pos)
    }
    fn estimate_text_size<T: plotters_backend::BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), plotters_backend::DrawingErrorKind<Self::ErrorType>> {
        self.inner.estimate_text_size(text, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: plotters_backend::BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> BackendResult<'a> {
        self.inner.blit_bitmap(pos, size, src)
    }
}

enum ImageKind {
    Svg,
    Png,
}

fn image_kind(path: &Path) -> Result<ImageKind, ReportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => Ok(ImageKind::Svg),
        Some("png") => Ok(ImageKind::Png),
        _ => Err(ReportError::ImageType {
            path: path.to_path_buf(),
        }),
    }
}

/// Runs a drawing function on an SVG or PNG backend chosen by the path's extension, then writes
/// the file; [`Drawn`] says which texts a PNG could not draw.
macro_rules! draw_to {
    ($path:expr, $size:expr, $draw:ident ( $($arg:expr),* )) => {{
        ensure_font();
        let path: &Path = $path;
        let fail = |e: String| ReportError::Plot { path: path.to_path_buf(), message: e };
        match image_kind(path)? {
            ImageKind::Svg => {
                let root = SVGBackend::new(path, $size).into_drawing_area();
                $draw(&root, $($arg),*).map_err(|e| fail(e.to_string()))?;
                root.present().map_err(|e| fail(e.to_string()))?;
                Ok(Drawn::default())
            }
            ImageKind::Png => {
                let missing = std::rc::Rc::new(std::cell::RefCell::new(Drawn::default()));
                let backend = GlyphCheck {
                    inner: BitMapBackend::new(path, $size),
                    missing: missing.clone(),
                };
                let root = backend.into_drawing_area();
                $draw(&root, $($arg),*).map_err(|e| fail(e.to_string()))?;
                root.present().map_err(|e| fail(e.to_string()))?;
                drop(root);
                Ok(missing.take())
            }
        }
    }};
}

/// Runs a drawing function on an in-memory SVG backend and returns the SVG text (the same drawing
/// code as the files, for pages that embed the picture).
macro_rules! draw_svg {
    ($what:expr, $size:expr, $draw:ident ( $($arg:expr),* )) => {{
        ensure_font();
        let fail = |e: String| ReportError::Plot { path: std::path::PathBuf::from($what), message: e };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, $size).into_drawing_area();
            $draw(&root, $($arg),*).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        Ok(svg)
    }};
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A value range padded by `frac` of its span (at least `min_pad`), clamped to `[lo, hi]`.
fn padded(
    values: impl Iterator<Item = f64>,
    frac: f64,
    min_pad: f64,
    lo: f64,
    hi: f64,
) -> (f64, f64) {
    let (mut a, mut b) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        a = a.min(v);
        b = b.max(v);
    }
    if !a.is_finite() {
        return (lo.max(0.0), hi.min(1.0));
    }
    let pad = ((b - a) * frac).max(min_pad);
    ((a - pad).max(lo), (b + pad).min(hi))
}

/// Learning curves: training and validation accuracy (left) and loss (right) per epoch, the
/// picture that shows overfitting. A dashed line marks the epoch of the best validation accuracy.
pub fn plot_curves(
    history: &[EpochMetrics],
    title: &str,
    path: &Path,
) -> Result<Drawn, ReportError> {
    if history.is_empty() {
        return Err(ReportError::NothingToPlot(
            "the history has no epochs".into(),
        ));
    }
    draw_to!(path, (1200, 520), draw_curves(history, title))
}

/// [`plot_curves`] as SVG text (the same picture), for pages that embed it.
pub fn plot_curves_svg(history: &[EpochMetrics], title: &str) -> Result<String, ReportError> {
    if history.is_empty() {
        return Err(ReportError::NothingToPlot(
            "the history has no epochs".into(),
        ));
    }
    draw_svg!("curves.svg", (1200, 520), draw_curves(history, title))
}

fn draw_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    history: &[EpochMetrics],
    title: &str,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 24).into_font().color(&DARK))?;
    let panels = root.split_evenly((1, 2));
    let first = history.first().map_or(1, |m| m.epoch) as f64;
    let last = history.last().map_or(1, |m| m.epoch) as f64;
    let x_range = curves_x_range(first, last);
    let best = history
        .iter()
        .max_by(|a, b| {
            a.val_accuracy
                .total_cmp(&b.val_accuracy)
                .then(b.epoch.cmp(&a.epoch))
        })
        .map(|m| m.epoch as f64);
    let epochs = history.len();

    type Pick = fn(&EpochMetrics) -> f64;
    let specs: [(&str, Pick, Pick, SeriesLabelPosition, f64); 2] = [
        (
            "accuracy",
            |m| m.train_accuracy,
            |m| m.val_accuracy,
            SeriesLabelPosition::LowerRight,
            1.0,
        ),
        (
            "loss",
            |m| m.train_loss,
            |m| m.val_loss,
            SeriesLabelPosition::UpperRight,
            f64::INFINITY,
        ),
    ];
    for (panel, (name, train, val, legend_at, hi)) in panels.iter().zip(specs) {
        let (y0, y1) = padded(
            history.iter().flat_map(|m| [train(m), val(m)]),
            0.08,
            0.005,
            0.0,
            hi,
        );
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{name} per epoch"),
                (FONT, 18).into_font().color(&DARK),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range.clone(), y0..y1)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_labels(epochs.clamp(5, 12))
            .x_label_formatter(&|x| epoch_tick(*x, first, last))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .x_desc("epoch")
            .y_desc(name)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()?;
        if let Some(b) = best {
            chart
                .draw_series(DashedLineSeries::new(
                    [(b, y0), (b, y1)],
                    6,
                    4,
                    RGBColor(120, 120, 120).stroke_width(1),
                ))?
                .label(format!("best validation accuracy (epoch {b:.0})"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(120, 120, 120))
                });
        }
        for (i, (label, pick)) in [("training", train), ("validation", val)]
            .into_iter()
            .enumerate()
        {
            let color = PALETTE[i];
            let points: Vec<(f64, f64)> =
                history.iter().map(|m| (m.epoch as f64, pick(m))).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(move |p| Circle::new(p, 3, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(legend_at)
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .label_font((FONT, 14))
            .draw()?;
    }
    Ok(())
}

/// One job of a halving sweep for [`plot_halving`]: its validation accuracy after each epoch it
/// trained, and whether halving stopped it.
#[derive(Debug, Clone, PartialEq)]
pub struct HalvingLine {
    /// The job's key (for messages).
    pub key: String,
    /// (epoch from 1, validation accuracy 0 to 1), in epoch order.
    pub val_accuracy: Vec<(usize, f64)>,
    /// Pruned at a rung: its line ends there, with a cross.
    pub pruned: bool,
}

/// Successive halving at a glance: every job's validation accuracy per epoch, one line each
/// (pruned jobs grey, ending with a cross where they stopped; the others in colour), and a dashed
/// vertical line at each rung's epoch (`rungs`). Errors when no job has an epoch.
pub fn plot_halving(
    lines: &[HalvingLine],
    rungs: &[usize],
    title: &str,
    path: &Path,
) -> Result<Drawn, ReportError> {
    check_halving(lines)?;
    draw_to!(path, (1000, 600), draw_halving(lines, rungs, title))
}

/// [`plot_halving`] as SVG text (the same picture).
pub fn plot_halving_svg(
    lines: &[HalvingLine],
    rungs: &[usize],
    title: &str,
) -> Result<String, ReportError> {
    check_halving(lines)?;
    draw_svg!(
        "halving.svg",
        (1000, 600),
        draw_halving(lines, rungs, title)
    )
}

fn check_halving(lines: &[HalvingLine]) -> Result<(), ReportError> {
    if lines.iter().all(|l| l.val_accuracy.is_empty()) {
        return Err(ReportError::NothingToPlot(
            "no job of the sweep has trained an epoch yet".into(),
        ));
    }
    Ok(())
}

/// Grey of pruned jobs' lines.
const PRUNED: RGBColor = RGBColor(150, 150, 150);

fn draw_halving<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    lines: &[HalvingLine],
    rungs: &[usize],
    title: &str,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 22).into_font().color(&DARK))?;
    let last = lines
        .iter()
        .flat_map(|l| l.val_accuracy.iter().map(|p| p.0))
        .chain(rungs.iter().copied())
        .max()
        .unwrap_or(1) as f64;
    let (y0, y1) = padded(
        lines
            .iter()
            .flat_map(|l| l.val_accuracy.iter().map(|p| p.1)),
        0.08,
        0.005,
        0.0,
        1.0,
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "validation accuracy per epoch (grey: pruned, x where it stopped; dashed: rungs)",
            (FONT, 16).into_font().color(&DARK),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(curves_x_range(1.0, last), y0..y1)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .x_labels((last as usize).clamp(5, 12))
        .x_label_formatter(&|x| epoch_tick(*x, 1.0, last))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .x_desc("epoch")
        .y_desc("validation accuracy")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;
    for &r in rungs {
        chart.draw_series(DashedLineSeries::new(
            [(r as f64, y0), (r as f64, y1)],
            6,
            4,
            RGBColor(120, 120, 120).stroke_width(1),
        ))?;
    }
    // Pruned lines first, so that the survivors are drawn over them.
    let mut colour = 0;
    for pruned in [true, false] {
        for l in lines.iter().filter(|l| l.pruned == pruned) {
            let points: Vec<(f64, f64)> =
                l.val_accuracy.iter().map(|&(e, v)| (e as f64, v)).collect();
            let style = if pruned {
                PRUNED.stroke_width(2)
            } else {
                colour += 1;
                PALETTE[(colour - 1) % PALETTE.len()].stroke_width(2)
            };
            // One line per job, also of a single point (a job pruned at epoch 1).
            chart.draw_series(LineSeries::new(points.clone(), style))?;
            chart.draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 2, style.color.filled())),
            )?;
            if let (true, Some(&end)) = (pruned, points.last()) {
                chart.draw_series(std::iter::once(Cross::new(end, 6, DARK.stroke_width(2))))?;
            }
        }
    }
    Ok(())
}

/// The epoch axis of the learning curves. With one epoch the axis runs from half an epoch before
/// it to two after, so that its points sit in the left fifth and the legend (drawn on the right)
/// never covers them.
/// The label of an epoch axis tick at `x`: the epoch when `x` is a whole number from `first` to
/// `last` (the axis runs past them, and a single epoch's axis reaches two more whole numbers),
/// else nothing.
fn epoch_tick(x: f64, first: f64, last: f64) -> String {
    if (x - x.round()).abs() < 1e-9 && x.round() >= first && x.round() <= last {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

fn curves_x_range(first: f64, last: f64) -> std::ops::Range<f64> {
    if last > first {
        first - 0.2..last + 0.2
    } else {
        first - 0.5..first + 2.0
    }
}

/// The accuracy axis of the depth plot: every point and every whisker end (mean ± sd of each
/// group, which may reach beyond the points) padded, clamped to [0, 1], plus headroom for the
/// legend.
fn depth_y_range(points: &[f64], whiskers: &[(f64, f64)]) -> (f64, f64) {
    let (y0, y1) = padded(
        points
            .iter()
            .copied()
            .chain(whiskers.iter().flat_map(|&(m, sd)| [m - sd, m + sd])),
        0.12,
        0.002,
        0.0,
        1.0,
    );
    (y0, y1 + (y1 - y0) * 0.3)
}

/// A deterministic number in [-1, 1) from a job key (FNV-1a), for jitter.
fn jitter(key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn depth_name(v: &FieldValue) -> String {
    match v {
        FieldValue::Int(1) => "1 conv layer".into(),
        FieldValue::Int(n) => format!("{n} conv layers"),
        FieldValue::Text(t) if t == "ann" => "ANN".into(),
        other => other.to_string(),
    }
}

/// Accuracy per depth: x is the number of conv layers (1, 2, 3, …) and the ANN, each job a point
/// (spread sideways so equal accuracies stay visible), each group's mean as a black bar and ±1
/// sample sd as a whisker. Several data sets are drawn side by side within a depth, one colour
/// each. A group of more than [`DEPTH_POINTS`] jobs draws that many of its points: its lowest
/// and highest accuracy and a sample fixed by the job keys (the legend says so); its mean, sd
/// and n are over all its jobs. So a sweep of 10,000 jobs is a picture of a hundred kilobytes,
/// not a megabyte.
pub fn plot_depth(rows: &[ResultRow], path: &Path) -> Result<Drawn, ReportError> {
    if rows.is_empty() {
        return Err(ReportError::NothingToPlot("no finished jobs".into()));
    }
    draw_to!(path, (1000, 600), draw_depth(rows))
}

/// [`plot_depth`] as SVG text (the same picture), for pages that embed it.
pub fn plot_depth_svg(rows: &[ResultRow]) -> Result<String, ReportError> {
    if rows.is_empty() {
        return Err(ReportError::NothingToPlot("no finished jobs".into()));
    }
    draw_svg!("depth.svg", (1000, 600), draw_depth(rows))
}

/// Points drawn per group (depth and data set) of the depth plot, at most.
pub const DEPTH_POINTS: usize = 250;

/// The points of a group drawn in the depth plot: all of them up to [`DEPTH_POINTS`], else the
/// lowest and highest accuracy and the rest of the keys' [`jitter`] order (a sample that does
/// not depend on the order of the rows).
fn drawn_points<'a>(v: &[(f64, &'a str)]) -> Vec<(f64, &'a str)> {
    if v.len() <= DEPTH_POINTS {
        return v.to_vec();
    }
    let by_acc = |a: &&(f64, &str), b: &&(f64, &str)| a.0.total_cmp(&b.0).then(a.1.cmp(b.1));
    let lo = *v.iter().min_by(by_acc).expect("not empty");
    let hi = *v.iter().max_by(by_acc).expect("not empty");
    let mut rest: Vec<(f64, &str)> = v
        .iter()
        .copied()
        .filter(|p| p.1 != lo.1 && p.1 != hi.1)
        .collect();
    rest.sort_by(|a, b| jitter(a.1).total_cmp(&jitter(b.1)).then(a.1.cmp(b.1)));
    rest.truncate(DEPTH_POINTS - 2);
    rest.extend([lo, hi]);
    rest
}

fn draw_depth<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[ResultRow],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let depths: Vec<FieldValue> = {
        let mut d: Vec<FieldValue> = rows.iter().map(|r| Field::Layers.value(&r.spec)).collect();
        d.sort();
        d.dedup();
        d
    };
    let datasets: Vec<String> = {
        let mut d: Vec<String> = rows.iter().map(|r| r.spec.train.dataset.clone()).collect();
        d.sort();
        d.dedup();
        d
    };
    // (depth index, dataset index) -> accuracies with jitter keys
    let mut groups: BTreeMap<(usize, usize), Vec<(f64, &str)>> = BTreeMap::new();
    for r in rows {
        let di = depths
            .binary_search(&Field::Layers.value(&r.spec))
            .expect("listed");
        let si = datasets
            .binary_search(&r.spec.train.dataset)
            .expect("listed");
        groups
            .entry((di, si))
            .or_default()
            .push((r.accuracy, &r.key));
    }
    let counts: Vec<usize> = (0..depths.len())
        .map(|di| {
            groups
                .iter()
                .filter(|((d, _), _)| *d == di)
                .map(|(_, v)| v.len())
                .sum()
        })
        .collect();

    let whiskers: Vec<(f64, f64)> = groups
        .values()
        .filter_map(|v| {
            let acc: Vec<f64> = v.iter().map(|p| p.0).collect();
            Some((stats::mean(&acc)?, stats::sample_sd(&acc)?))
        })
        .collect();
    let points: Vec<f64> = rows.iter().map(|r| r.accuracy).collect();
    // Room for every whisker, and headroom above the highest point for the legend.
    let (y0, y1) = depth_y_range(&points, &whiskers);
    let k = depths.len();
    let title = if datasets.len() == 1 {
        format!("Test accuracy per depth ({})", datasets[0])
    } else {
        "Test accuracy per depth".to_string()
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22).into_font().color(&DARK))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..k as f64 - 0.5, y0..y1)?;
    let names: Vec<String> = depths
        .iter()
        .zip(&counts)
        .map(|(d, n)| format!("{}, n={n}", depth_name(d)))
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .x_labels(k + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        })
        // The legend's headroom may reach past 1: no accuracy is labelled there.
        .y_label_formatter(&|y| {
            if *y <= 1.0 + 1e-9 {
                format!("{y:.3}")
            } else {
                String::new()
            }
        })
        .y_desc("test accuracy")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;

    let lanes = datasets.len() as f64;
    let sampled = groups.values().any(|v| v.len() > DEPTH_POINTS);
    let lane_width = 0.8 / lanes;
    let center = |di: usize, si: usize| di as f64 - 0.4 + lane_width * (si as f64 + 0.5);
    for (si, name) in datasets.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        let points: Vec<(f64, f64)> = groups
            .iter()
            .filter(|((_, s), _)| *s == si)
            .flat_map(|(&(di, _), v)| {
                let c = center(di, si);
                drawn_points(v)
                    .into_iter()
                    .map(move |(acc, key)| (c + jitter(key) * lane_width * 0.3, acc))
            })
            .collect();
        let one = if sampled {
            format!("one job ({DEPTH_POINTS} drawn per group at most)")
        } else {
            "one job".to_string()
        };
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(move |p| Circle::new(p, 5, color.mix(0.75).filled())),
            )?
            .label(if lanes > 1.0 {
                format!("{name}: {one}")
            } else {
                one
            })
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.mix(0.75).filled()));
    }
    let mut first = true;
    for (&(di, si), v) in &groups {
        let acc: Vec<f64> = v.iter().map(|p| p.0).collect();
        let Some(mean) = stats::mean(&acc) else {
            continue;
        };
        let c = center(di, si);
        let half = lane_width * 0.38;
        let bar = chart.draw_series(std::iter::once(PathElement::new(
            vec![(c - half, mean), (c + half, mean)],
            BLACK.stroke_width(3),
        )))?;
        if first {
            bar.label("mean; whisker: ±1 sd").legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(3))
            });
            first = false;
        }
        if let Some(sd) = stats::sample_sd(&acc) {
            // Whisker from mean - sd to mean + sd, with caps.
            let cap = half * 0.35;
            let whisker = [
                vec![(c, mean - sd), (c, mean + sd)],
                vec![(c - cap, mean - sd), (c + cap, mean - sd)],
                vec![(c - cap, mean + sd), (c + cap, mean + sd)],
            ];
            chart.draw_series(
                whisker
                    .into_iter()
                    .map(|p| PathElement::new(p, BLACK.stroke_width(2))),
            )?;
        }
        chart.draw_series(std::iter::once(Text::new(
            format!("{mean:.4}"),
            (c + half, mean),
            (FONT, 13)
                .into_font()
                .color(&DARK)
                .pos(Pos::new(HPos::Left, VPos::Bottom)),
        )))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font((FONT, 14))
        .draw()?;
    Ok(())
}

/// Blues: white at 0, dark blue at 1.
fn heat(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(lerp(247, 8), lerp(251, 48), lerp(255, 107))
}

/// Parallel coordinates: one vertical axis per field of `fields`, then validation and test
/// accuracy; each row of `rows` is a line through its values, coloured by its validation
/// accuracy (dark: high). A field's axis places its distinct values evenly (so 1e-4, 1e-3, 1e-2
/// are evenly spread, and names and lists have a place too); accuracy axes are linear between the
/// lowest and highest value. Returns SVG text. Draws at most the rows given: callers cut large
/// sweeps to their best rows first.
pub fn plot_parallel_svg(rows: &[ResultRow], fields: &[Field]) -> Result<String, ReportError> {
    if rows.is_empty() {
        return Err(ReportError::NothingToPlot("no finished jobs".into()));
    }
    let width = (180 * (fields.len() as u32 + 2)).clamp(700, 1400);
    draw_svg!("parallel.svg", (width, 520), draw_parallel(rows, fields))
}

fn draw_parallel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[ResultRow],
    fields: &[Field],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();
    let (left, right, top, bottom) = (70i32, 70i32, 70i32, 50i32);
    let axes = fields.len() + 2;
    let span = (w as i32 - left - right).max(1);
    let x_of = |i: usize| left + (span as f64 * i as f64 / (axes - 1).max(1) as f64) as i32;
    let y_span = (h as i32 - top - bottom) as f64;
    let y_of = |t: f64| top + ((1.0 - t.clamp(0.0, 1.0)) * y_span) as i32;
    // Distinct values of each field, in order: a value's position is its index.
    let levels: Vec<Vec<FieldValue>> = fields
        .iter()
        .map(|f| {
            let mut v: Vec<FieldValue> = rows.iter().map(|r| f.value(&r.spec)).collect();
            v.sort();
            v.dedup();
            v
        })
        .collect();
    let val = |r: &ResultRow| crate::rank::rank_accuracy(r);
    let range = |get: &dyn Fn(&ResultRow) -> f64| {
        let (mut a, mut b) = (f64::INFINITY, f64::NEG_INFINITY);
        for r in rows {
            let v = get(r);
            if v.is_finite() {
                a = a.min(v);
                b = b.max(v);
            }
        }
        if !a.is_finite() {
            (0.0, 1.0)
        } else if b - a < 1e-9 {
            (a - 0.005, b + 0.005)
        } else {
            (a, b)
        }
    };
    let (va, vb) = range(&val);
    let (ta, tb) = range(&|r: &ResultRow| r.accuracy);
    let level_t = |i: usize, v: &FieldValue| {
        let n = levels[i].len();
        if n <= 1 {
            0.5
        } else {
            levels[i].binary_search(v).unwrap_or(0) as f64 / (n - 1) as f64
        }
    };
    // Worst first, so the best lines are drawn on top.
    let mut order: Vec<&ResultRow> = rows.iter().collect();
    order.sort_by(|a, b| val(a).total_cmp(&val(b)));
    for r in order {
        let mut pts: Vec<(i32, i32)> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (x_of(i), y_of(level_t(i, &f.value(&r.spec)))))
            .collect();
        pts.push((x_of(fields.len()), y_of((val(r) - va) / (vb - va))));
        pts.push((x_of(fields.len() + 1), y_of((r.accuracy - ta) / (tb - ta))));
        let t = (val(r) - va) / (vb - va);
        let colour = heat(0.4 + 0.6 * t);
        root.draw(&PathElement::new(pts, colour.stroke_width(1)))?;
    }
    let axis_font = (FONT, 15).into_font().color(&DARK);
    let tick_font = (FONT, 12).into_font().color(&DARK);
    let names: Vec<String> = fields
        .iter()
        .map(|f| f.name())
        .chain(["val acc".to_string(), "test acc".to_string()])
        .collect();
    for (i, name) in names.iter().enumerate() {
        let x = x_of(i);
        root.draw(&PathElement::new(
            vec![(x, top), (x, h as i32 - bottom)],
            DARK.stroke_width(1),
        ))?;
        root.draw(&Text::new(
            name.clone(),
            (x, top - 34),
            axis_font.clone().pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        let ticks: Vec<(f64, String)> = if i < fields.len() {
            let n = levels[i].len();
            let step = n.div_ceil(10).max(1);
            levels[i]
                .iter()
                .enumerate()
                .filter(|(j, _)| j % step == 0 || *j + 1 == n)
                .map(|(_, v)| (level_t(i, v), v.display()))
                .collect()
        } else {
            let (a, b) = if i == fields.len() {
                (va, vb)
            } else {
                (ta, tb)
            };
            vec![(0.0, format!("{a:.4}")), (1.0, format!("{b:.4}"))]
        };
        for (t, label) in ticks {
            // On a pale box, so that the lines crossing the axis do not run through the text
            // (about 7 px a character at 12 px).
            let y = y_of(t);
            let width = 7 * label.chars().count() as i32 + 4;
            root.draw(&Rectangle::new(
                [(x + 2, y - 8), (x + 2 + width, y + 8)],
                WHITE.mix(0.85).filled(),
            ))?;
            root.draw(&Text::new(
                label,
                (x + 4, y),
                tick_font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
    }
    root.draw(&Text::new(
        format!(
            "{} configurations; colour: validation accuracy (dark: high)",
            rows.len()
        ),
        (w as i32 / 2, h as i32 - 24),
        tick_font.pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    Ok(())
}

/// Confusion heat-map: rows are the true class, columns the predicted class, class names on both
/// axes, each cell's count written in it. A cell's colour is its share of the true class's images,
/// so the diagonal shows per-class accuracy and the off-diagonal cells the mistakes.
pub fn plot_confusion<S: AsRef<str>>(
    matrix: &[Vec<u64>],
    class_names: &[S],
    title: &str,
    path: &Path,
) -> Result<Drawn, ReportError> {
    let (confusion, layout, size) = confusion_layout(matrix, class_names)?;
    draw_to!(path, size, draw_confusion(&confusion, title, layout))
}

/// [`plot_confusion`] as SVG text (the same picture), for pages that embed it.
pub fn plot_confusion_svg<S: AsRef<str>>(
    matrix: &[Vec<u64>],
    class_names: &[S],
    title: &str,
) -> Result<String, ReportError> {
    let (confusion, layout, size) = confusion_layout(matrix, class_names)?;
    draw_svg!(
        "confusion.svg",
        size,
        draw_confusion(&confusion, title, layout)
    )
}

/// The confusion matrix checked against its classes, the grid's layout and the picture's size.
fn confusion_layout<S: AsRef<str>>(
    matrix: &[Vec<u64>],
    class_names: &[S],
) -> Result<(crate::Confusion, Layout, (u32, u32)), ReportError> {
    let confusion = crate::Confusion::new(matrix, class_names)?;
    if confusion.classes.is_empty() {
        return Err(ReportError::NothingToPlot("no classes".into()));
    }
    ensure_font();
    let k = confusion.classes.len() as u32;
    let cell = (640 / k).clamp(24, 72);
    let label = confusion
        .classes
        .iter()
        .map(|n| label_font().box_size(n).map_or(0, |s| s.0))
        .max()
        .unwrap_or(0);
    let layout = Layout {
        cell: cell as i32,
        label: label as i32,
    };
    let grid = cell * k;
    let size = (
        (layout.x0() as u32 + grid + 110).max(500),
        layout.y0() as u32 + grid + 8 + label + 50,
    );
    Ok((confusion, layout, size))
}

fn label_font() -> FontDesc<'static> {
    (FONT, 15).into_font()
}

/// Where the confusion grid sits: cells of `cell` pixels, class names up to `label` pixels long.
#[derive(Clone, Copy)]
struct Layout {
    cell: i32,
    label: i32,
}

impl Layout {
    /// Left edge of the grid: the axis title, then the row labels.
    fn x0(self) -> i32 {
        40 + self.label + 12
    }
    /// Top edge of the grid: below the title and subtitle.
    fn y0(self) -> i32 {
        70
    }
}

fn draw_confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &crate::Confusion,
    title: &str,
    layout: Layout,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let k = c.classes.len();
    let cell = layout.cell;
    let label_font = label_font().color(&DARK);
    let (w, _) = root.dim_in_pixel();
    let grid_w = cell * k as i32;
    let (x0, y0) = (layout.x0(), layout.y0());
    let title_style = (FONT, 22)
        .into_font()
        .color(&DARK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, 14),
        title_style,
    ))?;
    let overall = c
        .accuracy
        .map_or(String::new(), |a| format!("overall accuracy {a:.4}; "));
    root.draw(&Text::new(
        format!("{overall}colour: share of the true class's images"),
        (w as i32 / 2, 44),
        (FONT, 14)
            .into_font()
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;

    let count_size = if cell >= 56 { 15 } else { 11 };
    for (i, row) in c.matrix.iter().enumerate() {
        let total: u64 = row.iter().sum();
        for (j, &n) in row.iter().enumerate() {
            let share = if total > 0 {
                n as f64 / total as f64
            } else {
                0.0
            };
            let (cx, cy) = (x0 + j as i32 * cell, y0 + i as i32 * cell);
            root.draw(&Rectangle::new(
                [(cx, cy), (cx + cell, cy + cell)],
                heat(share).filled(),
            ))?;
            let ink = if share > 0.5 { WHITE } else { DARK };
            root.draw(&Text::new(
                n.to_string(),
                (cx + cell / 2, cy + cell / 2),
                (FONT, count_size)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            ))?;
        }
    }
    // Thin grid lines and a frame.
    for i in 0..=k as i32 {
        let style = if i == 0 || i == k as i32 { DARK } else { WHITE };
        root.draw(&PathElement::new(
            vec![(x0, y0 + i * cell), (x0 + grid_w, y0 + i * cell)],
            style,
        ))?;
        root.draw(&PathElement::new(
            vec![(x0 + i * cell, y0), (x0 + i * cell, y0 + grid_w)],
            style,
        ))?;
    }
    // Row labels (true class) right-aligned left of the grid; column labels (predicted class)
    // rotated below it.
    for (i, name) in c.classes.iter().enumerate() {
        let y = y0 + i as i32 * cell + cell / 2;
        root.draw(&Text::new(
            name.clone(),
            (x0 - 8, y),
            label_font.pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
        let x = x0 + i as i32 * cell + cell / 2;
        root.draw(&Text::new(
            name.clone(),
            (x, y0 + grid_w + 8),
            label_font
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    let axis_font = (FONT, 16).into_font().color(&DARK);
    root.draw(&Text::new(
        "true class",
        (14, y0 + grid_w / 2),
        axis_font
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    let (_, h) = root.dim_in_pixel();
    root.draw(&Text::new(
        "predicted class",
        (x0 + grid_w / 2, h as i32 - 14),
        axis_font.pos(Pos::new(HPos::Center, VPos::Bottom)),
    ))?;

    // Colour bar.
    let bx = x0 + grid_w + 30;
    let steps = 50;
    for s in 0..steps {
        let t = 1.0 - s as f64 / steps as f64;
        let yy = y0 + s * grid_w / steps;
        let yy1 = y0 + (s + 1) * grid_w / steps;
        root.draw(&Rectangle::new(
            [(bx, yy), (bx + 18, yy1)],
            heat(t).filled(),
        ))?;
    }
    root.draw(&Rectangle::new([(bx, y0), (bx + 18, y0 + grid_w)], DARK))?;
    for (t, text) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
        let yy = y0 + ((1.0 - t) * grid_w as f64) as i32;
        root.draw(&Text::new(
            text,
            (bx + 24, yy),
            (FONT, 13)
                .into_font()
                .color(&DARK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        assert_eq!(jitter("abc"), jitter("abc"));
        assert_ne!(jitter("abc"), jitter("abd"));
        for k in ["", "a", "0123456789abcdef", "zzzz"] {
            let j = jitter(k);
            assert!((-1.0..1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn depth_axis_holds_every_whisker() {
        // Two jobs far apart: mean 0.5, sd 0.42, so the whisker reaches 0.08 below the lower point.
        let points = [0.2, 0.8];
        let sd = stats::sample_sd(&points).unwrap();
        let (y0, y1) = depth_y_range(&points, &[(0.5, sd)]);
        assert!(y0 <= 0.5 - sd && y1 >= 0.5 + sd, "{y0}..{y1} for sd {sd}");
        assert!(y0 >= 0.0);
    }

    /// The texts of an SVG (`>TEXT<` between tags), trimmed.
    fn svg_texts(svg: &str) -> Vec<String> {
        svg.split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()
    }

    #[test]
    fn a_curve_of_one_epoch_labels_that_epoch_and_no_other() {
        let one = EpochMetrics {
            epoch: 1,
            train_loss: 0.5,
            train_accuracy: 0.8,
            val_loss: 0.6,
            val_accuracy: 0.78,
            seconds: 1.0,
        };
        let svg = plot_curves_svg(&[one], "one epoch").unwrap();
        let texts = svg_texts(&svg);
        // One "1" tick on each of the two panels' epoch axes, no "2" or "3".
        assert_eq!(texts.iter().filter(|t| *t == "1").count(), 2, "{texts:?}");
        assert!(!texts.iter().any(|t| t == "2" || t == "3"), "{texts:?}");
    }

    #[test]
    fn epoch_ticks_label_only_recorded_epochs() {
        assert_eq!(epoch_tick(1.0, 1.0, 1.0), "1");
        assert_eq!(epoch_tick(2.0, 1.0, 1.0), "", "no epoch 2 was recorded");
        assert_eq!(epoch_tick(1.5, 1.0, 3.0), "");
        assert_eq!(epoch_tick(0.0, 1.0, 3.0), "");
        assert_eq!(epoch_tick(3.0, 1.0, 3.0), "3");
    }

    #[test]
    fn one_epoch_sits_left_of_the_legend() {
        let r = curves_x_range(1.0, 1.0);
        let at = (1.0 - r.start) / (r.end - r.start);
        assert!(at <= 0.25, "{at}");
        let r = curves_x_range(1.0, 20.0);
        assert!(r.start < 1.0 && r.end > 20.0);
    }

    #[test]
    fn padded_ranges() {
        let (a, b) = padded([0.9, 0.95].into_iter(), 0.1, 0.0, 0.0, 1.0);
        assert!((a - 0.895).abs() < 1e-12 && (b - 0.955).abs() < 1e-12);
        assert_eq!(padded([0.99, 1.0].into_iter(), 0.5, 0.0, 0.0, 1.0).1, 1.0);
        assert_eq!(padded(std::iter::empty(), 0.1, 0.0, 0.0, 1.0), (0.0, 1.0));
    }

    #[test]
    fn the_png_font_lacks_cjk_but_not_latin_greek_or_cyrillic() {
        assert_eq!(
            png_font_lacks("T-shirt/top Ärmel αβ Жук 0.5%"),
            Vec::<char>::new()
        );
        assert_eq!(png_font_lacks("猫 and 猫犬"), vec!['猫', '犬']);
        assert_eq!(png_font_lacks("고양이"), vec!['고', '양', '이']);
    }

    #[test]
    fn a_png_draws_with_a_system_font_that_has_the_characters_else_names_them() {
        // U+1D400 (bold A) is not in DejaVu Sans; fontconfig may know a font that has it.
        let system = std::process::Command::new("fc-list")
            .args(["--format=%{file}\\n", ":charset=1d400"])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty());
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let png = dir.join("c.png");
        let drawn =
            plot_confusion(&[vec![1, 0], vec![0, 1]], &["\u{1d400}", "b"], "t", &png).unwrap();
        assert!(std::fs::metadata(&png).unwrap().len() > 0);
        if system {
            assert_eq!(drawn.missing_glyphs, vec![], "{drawn:?}");
            assert_eq!(drawn.fallback_fonts.len(), 1, "{drawn:?}");
            assert_eq!(drawn.fallback_fonts[0].0, "\u{1d400}");
        } else {
            assert_eq!(drawn.fallback_fonts, vec![], "{drawn:?}");
            assert_eq!(
                drawn.missing_glyphs,
                vec![("\u{1d400}".to_string(), vec!['\u{1d400}'])]
            );
        }
        // SVG text is the viewer's to draw.
        let svg = plot_confusion(
            &[vec![1, 0], vec![0, 1]],
            &["\u{1d400}", "b"],
            "t",
            &dir.join("c.svg"),
        )
        .unwrap();
        assert_eq!(svg, Drawn::default());
    }

    #[test]
    fn heat_ends() {
        assert_eq!(heat(0.0), RGBColor(247, 251, 255));
        assert_eq!(heat(1.0), RGBColor(8, 48, 107));
    }
}

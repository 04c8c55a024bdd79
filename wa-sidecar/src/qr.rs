//! Renders a QR code for a terminal with Unicode half blocks (two module rows per text line).
//!
//! Light modules are drawn as ink (`█`, `▀`, `▄`), dark modules as spaces, which reads correctly
//! on the usual dark terminal background; a 2-module quiet zone surrounds the code.

use qrcode::{Color, QrCode};

/// Quiet zone around the code, in modules.
pub const QUIET_ZONE: usize = 2;

/// Why a QR code could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode QR code: {0}")]
pub struct QrError(#[from] qrcode::types::QrError);

/// The module matrix including the quiet zone: `true` = dark.
fn modules(data: &str) -> Result<(usize, Vec<bool>), QrError> {
    let code = QrCode::new(data.as_bytes())?;
    let w = code.width();
    let colors = code.to_colors();
    let size = w + 2 * QUIET_ZONE;
    let mut out = vec![false; size * size];
    for y in 0..w {
        for x in 0..w {
            out[(y + QUIET_ZONE) * size + x + QUIET_ZONE] = colors[y * w + x] == Color::Dark;
        }
    }
    Ok((size, out))
}

/// `data` as a QR code drawn with half blocks, one `\n`-terminated line per two module rows.
pub fn render(data: &str) -> Result<String, QrError> {
    let (size, dark) = modules(data)?;
    let at = |x: usize, y: usize| y < size && dark[y * size + x];
    let light = |x: usize, y: usize| y >= size || !at(x, y);
    let mut out = String::with_capacity((size + 1) * size.div_ceil(2) * 3);
    for y in (0..size).step_by(2) {
        for x in 0..size {
            // the row below the last one (odd sizes) counts as light quiet zone
            let ch = match (!at(x, y), y + 1 >= size || light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            };
            out.push(ch);
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the drawing back into dark/light modules.
    fn parse(drawing: &str, size: usize) -> Vec<bool> {
        let mut dark = vec![false; size * size];
        for (line_no, line) in drawing.lines().enumerate() {
            for (x, ch) in line.chars().enumerate() {
                let (top_light, bottom_light) = match ch {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected {other:?}"),
                };
                let y = line_no * 2;
                dark[y * size + x] = !top_light;
                if y + 1 < size {
                    dark[(y + 1) * size + x] = !bottom_light;
                }
            }
        }
        dark
    }

    #[test]
    fn drawing_encodes_exactly_the_qr_modules() {
        let data = "https://wa.me/settings/linked_devices#2@abc,AAAA,BBBB,CCCC,1";
        let drawing = render(data).unwrap();
        let (size, dark) = modules(data).unwrap();
        assert_eq!(drawing.lines().count(), size.div_ceil(2));
        assert!(drawing.lines().all(|l| l.chars().count() == size));
        assert_eq!(parse(&drawing, size), dark);
        // the quiet zone is light all round
        assert!(drawing.lines().next().unwrap().chars().all(|c| c == '█'));
    }

    #[test]
    fn oversized_data_is_an_error_not_a_panic() {
        assert!(render(&"x".repeat(5000)).is_err());
    }
}

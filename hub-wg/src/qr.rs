//! QR codes of client configs for phones (the WireGuard app scans them).

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::error::WgError;

/// The config as a QR code drawn with Unicode half blocks, for a terminal. Contains the
/// client's private key, like the config itself.
pub fn qr(config: &str) -> Result<String, WgError> {
    let code = QrCode::new(config.as_bytes()).map_err(WgError::Qr)?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_blocks_and_refuses_what_does_not_fit() {
        let art = qr("[Interface]\nPrivateKey = x\n").unwrap();
        assert!(art.lines().count() > 10);
        assert!(art.chars().any(|c| matches!(c, '▀' | '▄' | '█')));
        assert!(matches!(qr(&"x".repeat(10_000)), Err(WgError::Qr(_))));
    }
}

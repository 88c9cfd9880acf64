//! X25519 keys in WireGuard's text form (standard base64 of 32 bytes).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use x25519_dalek::StaticSecret;

use crate::error::WgError;

/// Decodes WireGuard's base64 form of a 32-byte key. `what` names the key in errors; the
/// input itself is never echoed back (it may be a secret).
fn decode_key(text: &str, what: &str) -> Result<[u8; 32], WgError> {
    let text = text.trim();
    let invalid = |reason: &str| WgError::InvalidKey {
        what: what.to_string(),
        reason: reason.to_string(),
    };
    if text.len() != 44 || !text.ends_with('=') {
        return Err(invalid(&format!(
            "expected 44 base64 characters ending in '=', got {} characters",
            text.chars().count()
        )));
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| invalid("not standard base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| invalid("does not decode to 32 bytes"))
}

/// A WireGuard private key. Its `Debug` never shows the secret, it is not `Serialize`, and it
/// is zeroed on drop (x25519-dalek's `zeroize`).
#[derive(Clone)]
pub struct PrivateKey(StaticSecret);

impl PrivateKey {
    /// The key from its 32 raw bytes, as given (WireGuard clamps when it uses the key).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    /// A key from 32 random bytes, clamped as `wg genkey` does.
    pub fn from_random_bytes(mut bytes: [u8; 32]) -> Self {
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        Self::from_bytes(bytes)
    }

    /// Parses WireGuard's base64 form (as `wg genkey` prints it). Surrounding whitespace,
    /// such as the newline at the end of a key file, is ignored.
    pub fn from_base64(text: &str) -> Result<Self, WgError> {
        decode_key(text, "private key").map(Self::from_bytes)
    }

    /// The key in WireGuard's base64 form. This is the secret: write it only to 0600 files
    /// or to a child's stdin, never to logs or command lines.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        // Compare without branching on the secret bytes.
        let (a, b) = (self.0.to_bytes(), other.0.to_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl Eq for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(<secret of {}>)", self.public_key())
    }
}

/// A WireGuard public key; prints and parses as base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses WireGuard's base64 form.
    pub fn from_base64(text: &str) -> Result<Self, WgError> {
        decode_key(text, "public key").map(Self)
    }

    /// The key in WireGuard's base64 form.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl FromStr for PublicKey {
    type Err = WgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base64(s)
    }
}

/// A private key with its public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    /// The secret half.
    pub private: PrivateKey,
    /// The public half, derived from `private`.
    pub public: PublicKey,
}

impl KeyPair {
    /// The pair for a private key.
    pub fn from_private(private: PrivateKey) -> Self {
        let public = private.public_key();
        Self { private, public }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7748 section 6.1: Alice's private and public key.
    const ALICE_PRIVATE: [u8; 32] = [
        0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66,
        0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9,
        0x2c, 0x2a,
    ];
    const ALICE_PUBLIC: [u8; 32] = [
        0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e, 0xf7,
        0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b,
        0x4e, 0x6a,
    ];

    #[test]
    fn derives_the_rfc7748_public_key() {
        let key = PrivateKey::from_bytes(ALICE_PRIVATE);
        assert_eq!(key.public_key(), PublicKey::from_bytes(ALICE_PUBLIC));
    }

    #[test]
    fn base64_round_trips() {
        let key = PrivateKey::from_bytes(ALICE_PRIVATE);
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(PrivateKey::from_base64(&format!("{text}\n")).unwrap(), key);
        let public = key.public_key();
        assert_eq!(public.to_string().parse::<PublicKey>().unwrap(), public);
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = PrivateKey::from_bytes(ALICE_PRIVATE);
        let shown = format!("{key:?} {:?}", KeyPair::from_private(key.clone()));
        assert!(!shown.contains(&key.to_base64()), "{shown}");
        assert!(shown.contains(&key.public_key().to_base64()));
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for bad in [
            "",
            "abc",
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            let err = PrivateKey::from_base64(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("private key is not a valid WireGuard key"),
                "{err}"
            );
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn random_bytes_are_clamped() {
        let key = PrivateKey::from_random_bytes([0xff; 32]);
        let bytes = STANDARD.decode(key.to_base64()).unwrap();
        assert_eq!(bytes[0] & 7, 0);
        assert_eq!(bytes[31] & 0xc0, 0x40);
    }
}

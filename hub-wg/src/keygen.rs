//! Key generators: the OS's randomness for real labs, a seeded one for reproducible tests.

use std::sync::{Mutex, PoisonError};

use rand::rand_core::{RngCore, SeedableRng, TryRngCore};
use rand_chacha::ChaCha20Rng;

use crate::error::WgError;
use crate::key::{KeyPair, PrivateKey};

/// Produces WireGuard (X25519) key pairs. Object-safe, so a lab holds a `&dyn KeyGen`.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait KeyGen: Send + Sync {
    /// A fresh key pair.
    fn generate(&self) -> Result<KeyPair, WgError>;
}

/// Keys from the operating system's random number generator (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsKeyGen;

impl KeyGen for OsKeyGen {
    fn generate(&self) -> Result<KeyPair, WgError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(WgError::Randomness)?;
        Ok(KeyPair::from_private(PrivateKey::from_random_bytes(bytes)))
    }
}

/// Deterministic keys from a `u64` seed (ChaCha20): the same seed gives the same sequence
/// of keys. For tests only; anyone who knows the seed knows the keys.
pub struct SeededKeyGen {
    rng: Mutex<ChaCha20Rng>,
}

impl std::fmt::Debug for SeededKeyGen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The generator's state determines every key it will make: never print it.
        f.write_str("SeededKeyGen { .. }")
    }
}

impl SeededKeyGen {
    /// A generator whose sequence of keys is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)),
        }
    }
}

impl KeyGen for SeededKeyGen {
    fn generate(&self) -> Result<KeyPair, WgError> {
        let mut bytes = [0u8; 32];
        // A panic elsewhere cannot leave a ChaCha state half-updated in a harmful way.
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fill_bytes(&mut bytes);
        Ok(KeyPair::from_private(PrivateKey::from_random_bytes(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_reproducible_and_varies() {
        let (a, b, c) = (
            SeededKeyGen::new(7),
            SeededKeyGen::new(7),
            SeededKeyGen::new(8),
        );
        let a1 = a.generate().unwrap();
        let a2 = a.generate().unwrap();
        assert_eq!(a1, b.generate().unwrap());
        assert_eq!(a2, b.generate().unwrap());
        assert_ne!(a1, a2);
        assert_ne!(a1, c.generate().unwrap());
    }

    #[test]
    fn os_keys_differ_and_work_as_trait_objects() {
        let keygen: &dyn KeyGen = &OsKeyGen;
        let (a, b) = (keygen.generate().unwrap(), keygen.generate().unwrap());
        assert_ne!(a.public, b.public);
        assert_eq!(a.private.public_key(), a.public);
    }
}

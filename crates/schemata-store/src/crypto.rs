//! Credentials at rest: ChaCha20-Poly1305 with the connection id as associated data,
//! so a ciphertext copied onto another connection row does not decrypt.

use crate::StoreError;
use chacha20poly1305::{
    ChaCha20Poly1305, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};

const NONCE_LEN: usize = 12;

/// Encrypts and decrypts connection secrets with the service's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    /// Derived from the key: makes fingerprints of secret-bearing data
    /// useless to whoever reads the database without the key.
    fingerprint_key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// From 64 hex characters (32 bytes), as in `SCHEMATA_ENCRYPTION_KEY`.
    pub fn from_hex(key_hex: &str) -> Result<Self, String> {
        let bytes = hex::decode(key_hex.trim())
            .map_err(|_| "SCHEMATA_ENCRYPTION_KEY must be 64 hex characters".to_owned())?;
        if bytes.len() != 32 {
            return Err("SCHEMATA_ENCRYPTION_KEY must be 64 hex characters (32 bytes)".into());
        }
        use sha2::{Digest, Sha256};
        let fingerprint_key = Sha256::new()
            .chain_update(b"schemata fingerprint key\0")
            .chain_update(&bytes)
            .finalize()
            .into();
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
            fingerprint_key,
        })
    }

    /// A keyed hash of `data` (hex): equal data, equal fingerprint, and no
    /// guessing `data` back from it without the service's key.
    pub fn fingerprint(&self, data: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(
            Sha256::new()
                .chain_update(self.fingerprint_key)
                .chain_update(data)
                .finalize(),
        )
    }

    /// A new random key, hex encoded.
    pub fn generate_key_hex() -> String {
        hex::encode(random_bytes::<32>())
    }

    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let nonce = Nonce::from_slice(&nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        [nonce_bytes.as_slice(), &ciphertext].concat()
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < NONCE_LEN {
            return Err(StoreError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| StoreError::Decrypt)
    }
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_context() {
        let key = SecretBox::from_hex(&SecretBox::generate_key_hex()).unwrap();
        let sealed = key.seal(b"postgres://u:secret@db/app", b"conn-1");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            key.open(&sealed, b"conn-1").unwrap(),
            b"postgres://u:secret@db/app"
        );
        assert!(key.open(&sealed, b"conn-2").is_err());
        let other = SecretBox::from_hex(&SecretBox::generate_key_hex()).unwrap();
        assert!(other.open(&sealed, b"conn-1").is_err());
        assert!(key.open(b"short", b"conn-1").is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_of_hex() {
        assert!(SecretBox::from_hex("abcd").is_err());
        assert!(SecretBox::from_hex(&"zz".repeat(32)).is_err());
    }
}

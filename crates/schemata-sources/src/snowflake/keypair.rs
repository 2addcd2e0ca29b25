//! Key-pair authentication: the JWT Snowflake documents, signed RS256 with
//! the user's PKCS#8 key. `iss` is `ACCOUNT.USER.SHA256:<fingerprint>`, the
//! base64 SHA-256 of the public key's DER (what `DESC USER` shows as
//! `RSA_PUBLIC_KEY_FP`), `sub` is `ACCOUNT.USER`, and the token lives for
//! less than the hour Snowflake allows.

use crate::SourceError;
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use pkcs8::der::{Decode, Encode, asn1::AnyRef, asn1::BitStringRef};
use pkcs8::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use pkcs8::{EncryptedPrivateKeyInfo, ObjectIdentifier, SecretDocument};
use ring::{
    rand::SystemRandom,
    signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair},
};
use serde_json::json;
use sha2::{Digest, Sha256};

/// How long a token is good for: Snowflake refuses more than an hour.
const LIFETIME_SECS: i64 = 59 * 60;

/// rsaEncryption.
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

pub(crate) struct KeyPair {
    key: RsaKeyPair,
    /// `SHA256:<base64>` of the public key.
    fingerprint: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

fn unusable(why: &str) -> SourceError {
    SourceError::Configuration(format!("`private_key` {why}"))
}

impl KeyPair {
    /// Reads a PKCS#8 PEM key, decrypting it with `passphrase` when it is
    /// an `ENCRYPTED PRIVATE KEY`.
    pub fn from_pem(pem: &str, passphrase: Option<&str>) -> Result<Self, SourceError> {
        let (label, document) = SecretDocument::from_pem(pem.trim())
            .map_err(|_| unusable("is not a PEM-encoded PKCS#8 key"))?;
        let der = match (label, passphrase) {
            ("PRIVATE KEY", _) => document,
            ("ENCRYPTED PRIVATE KEY", Some(passphrase)) => {
                EncryptedPrivateKeyInfo::from_der(document.as_bytes())
                    .map_err(|_| unusable("is not an encrypted PKCS#8 key"))?
                    .decrypt(passphrase)
                    .map_err(|_| unusable("could not be decrypted with `private_key_passphrase`"))?
            }
            ("ENCRYPTED PRIVATE KEY", None) => {
                return Err(unusable("is encrypted: give `private_key_passphrase`"));
            }
            _ => return Err(unusable("is not a PKCS#8 key (`BEGIN PRIVATE KEY`)")),
        };
        let key = RsaKeyPair::from_pkcs8(der.as_bytes())
            .map_err(|_| unusable("is not an RSA key of 2048 bits or more"))?;
        let fingerprint = fingerprint(key.public_key().as_ref())?;
        Ok(Self { key, fingerprint })
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A token for `user` of `account` (the account name, without region),
    /// issued at `now` (Unix seconds).
    pub fn token(&self, account: &str, user: &str, now: i64) -> Result<String, SourceError> {
        let qualified = format!(
            "{}.{}",
            account.to_ascii_uppercase(),
            user.to_ascii_uppercase()
        );
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
        let claims = json!({
            "iss": format!("{qualified}.{}", self.fingerprint),
            "sub": qualified,
            "iat": now,
            "exp": now + LIFETIME_SECS,
        });
        let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| unusable("could not sign the login token"))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// `SHA256:` and the base64 SHA-256 of the SubjectPublicKeyInfo DER around
/// an RSAPublicKey (the form `openssl rsa -pubout -outform DER` writes).
fn fingerprint(rsa_public_key: &[u8]) -> Result<String, SourceError> {
    let info = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: RSA,
            parameters: Some(AnyRef::NULL),
        },
        subject_public_key: BitStringRef::from_bytes(rsa_public_key)
            .map_err(|_| unusable("has a public key that cannot be encoded"))?,
    };
    let der = info
        .to_der()
        .map_err(|_| unusable("has a public key that cannot be encoded"))?;
    Ok(format!("SHA256:{}", STANDARD.encode(Sha256::digest(der))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use serde_json::Value;

    const KEY: &str = include_str!("testdata/rsa_key.p8");
    const ENCRYPTED: &str = include_str!("testdata/rsa_key_encrypted.p8");
    /// `openssl pkey -in rsa_key.p8 -pubout -outform DER | openssl dgst -sha256 -binary | base64`
    const FINGERPRINT: &str = "SHA256:lhbIpPFAfxv6VHKQL86bHCK+tBKsTicC1mwj1sd4pcg=";

    #[test]
    fn the_token_is_snowflakes_documented_jwt_signed_by_the_key() {
        let pair = KeyPair::from_pem(KEY, None).unwrap();
        assert_eq!(pair.fingerprint(), FINGERPRINT);
        let token = pair.token("xy12345", "loader", 1_700_000_000).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |part: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        };
        assert_eq!(decode(parts[0]), json!({"alg": "RS256", "typ": "JWT"}));
        assert_eq!(
            decode(parts[1]),
            json!({
                "iss": format!("XY12345.LOADER.{FINGERPRINT}"),
                "sub": "XY12345.LOADER",
                "iat": 1_700_000_000,
                "exp": 1_700_000_000 + 59 * 60,
            })
        );
        let public = UnparsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            pair.key.public_key().as_ref().to_vec(),
        );
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies with the public key");
    }

    #[test]
    fn an_encrypted_key_needs_its_passphrase() {
        let pair = KeyPair::from_pem(ENCRYPTED, Some("correct-horse")).unwrap();
        assert_eq!(pair.fingerprint(), FINGERPRINT);
        for passphrase in [None, Some("wrong")] {
            let error = KeyPair::from_pem(ENCRYPTED, passphrase).unwrap_err();
            assert!(matches!(error, SourceError::Configuration(_)), "{error:?}");
        }
        assert!(
            KeyPair::from_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                None
            )
            .is_err()
        );
    }
}

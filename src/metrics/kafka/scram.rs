//! SASL SCRAM (RFC 5802, with SHA-256 of RFC 7677 or SHA-512) as Kafka speaks it: the client's
//! first message, its proof from the server's salt and iteration count, and the check of the
//! server's signature. Pure: the caller sends and receives; ring does the hashing (already built for
//! rustls). The password never crosses the wire, and the server's words are never shown.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::{digest, hmac, pbkdf2};

/// The most PBKDF2 iterations a server may ask (Kafka asks 4096 to 16384): a hostile broker cannot
/// make a read burn seconds of CPU.
pub const MAX_ITERATIONS: u32 = 100_000;

/// Which hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl Hash {
    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Self::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Self::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        }
    }

    fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// One SCRAM exchange, from the client's side.
pub struct Scram {
    hash: Hash,
    password: String,
    nonce: String,
    first_bare: String,
}

/// What the client sends second, and the server signature to expect back.
pub struct Final {
    /// `c=biws,r=...,p=...`.
    pub message: String,
    server_signature: Vec<u8>,
}

/// `=` and `,` in a user name as SCRAM writes them.
fn saslname(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

impl Scram {
    /// An exchange for `user` with the client nonce `nonce` (printable, no comma).
    pub fn new(hash: Hash, user: &str, password: &str, nonce: &str) -> Self {
        let first_bare = format!("n={},r={nonce}", saslname(user));
        Self { hash, password: password.to_string(), nonce: nonce.to_string(), first_bare }
    }

    /// A fresh random nonce.
    pub fn random_nonce() -> Result<String, String> {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 18];
        ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| "no randomness for the SCRAM nonce")?;
        Ok(STANDARD.encode(bytes))
    }

    /// The client's first message: no channel binding, no authorization identity.
    pub fn first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// The client's final message for the server's first, or why the server's first is unusable.
    pub fn answer(&self, server_first: &[u8]) -> Result<Final, String> {
        let text = std::str::from_utf8(server_first).map_err(|_| "the server's first message is not text")?;
        let field = |name: char| {
            text.split(',').find_map(|part| part.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        };
        if text.starts_with("e=") {
            return Err("the server refused the exchange".into());
        }
        let nonce = field('r').ok_or("the server's first message has no nonce")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's nonce does not extend the client's".into());
        }
        let salt = field('s')
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or("the server's first message has no readable salt")?;
        let iterations = field('i')
            .and_then(|i| i.parse::<u32>().ok())
            .and_then(NonZeroU32::new)
            .ok_or("the server's first message has no iteration count")?;
        if iterations.get() > MAX_ITERATIONS {
            return Err(format!("the server asks {iterations} iterations, more than {MAX_ITERATIONS}"));
        }
        let mut salted = vec![0u8; self.hash.len()];
        pbkdf2::derive(self.hash.pbkdf2(), iterations, &salt, self.password.as_bytes(), &mut salted);
        let key = hmac::Key::new(self.hash.hmac(), &salted);
        let client_key = hmac::sign(&key, b"Client Key");
        let stored_key = digest::digest(self.hash.digest(), client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.first_bare);
        let client_signature =
            hmac::sign(&hmac::Key::new(self.hash.hmac(), stored_key.as_ref()), auth_message.as_bytes());
        let proof: Vec<u8> =
            client_key.as_ref().iter().zip(client_signature.as_ref()).map(|(a, b)| a ^ b).collect();
        let server_key = hmac::sign(&key, b"Server Key");
        let server_signature =
            hmac::sign(&hmac::Key::new(self.hash.hmac(), server_key.as_ref()), auth_message.as_bytes());
        Ok(Final {
            message: format!("{without_proof},p={}", STANDARD.encode(proof)),
            server_signature: server_signature.as_ref().to_vec(),
        })
    }
}

impl Final {
    /// Whether the server's final message proves it knew the password too.
    pub fn check(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final).map_err(|_| "the server's final message is not text")?;
        if text.starts_with("e=") {
            return Err("the server refused the proof".into());
        }
        let signature = text
            .split(',')
            .find_map(|part| part.strip_prefix("v="))
            .and_then(|v| STANDARD.decode(v).ok())
            .ok_or("the server's final message has no signature")?;
        if signature == self.server_signature {
            Ok(())
        } else {
            Err("the server's signature does not match: it does not know the password".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7677_example() {
        let scram = Scram::new(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(scram.first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let answer = scram.answer(server_first).unwrap();
        assert_eq!(
            answer.message,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(answer.check(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="), Ok(()));
        assert!(answer.check(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").is_err());
        assert!(answer.check(b"e=invalid-proof").is_err());
    }

    #[test]
    fn sha512_round_trip_and_hostile_first_messages() {
        let scram = Scram::new(Hash::Sha512, "a=b,c", "pw", "abc");
        assert_eq!(scram.first(), "n,,n=a=3Db=2Cc,r=abc");
        let answer = scram.answer(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
        assert!(answer.message.starts_with("c=biws,r=abcdef,p="));
        for bad in [
            &b"r=xyz,s=c2FsdA==,i=4096"[..],
            b"r=abc,s=c2FsdA==,i=4096",
            b"r=abcd,s=!!,i=4096",
            b"r=abcd,s=c2FsdA==,i=0",
            b"r=abcd,s=c2FsdA==,i=999999999",
            b"e=other-error",
            b"\xff",
        ] {
            assert!(scram.answer(bad).is_err(), "{bad:?}");
        }
    }
}

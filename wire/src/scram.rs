//! SCRAM-SHA-256 verifiers: what a server keeps of a password (RFC 5802,
//! as PostgreSQL stores it), derived here so that the one who stores them
//! and the exchange that checks them agree.

use pgwire::api::auth::sasl::scram::{ScramSecret, gen_salted_password};

/// A SCRAM-SHA-256 verifier (RFC 5802, as PostgreSQL stores it): what the
/// exchange needs, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub salt: Vec<u8>,
    pub iterations: usize,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl ScramVerifier {
    /// The verifier of `password` with `salt`.
    pub fn derive(password: &str, salt: &[u8], iterations: usize) -> ScramVerifier {
        let salted = gen_salted_password(password, salt, iterations);
        match ScramSecret::verifier_from_salted_password(salt.to_vec(), salted, iterations) {
            ScramSecret::Verifier {
                salt,
                iterations,
                stored_key,
                server_key,
            } => ScramVerifier {
                salt,
                iterations,
                stored_key,
                server_key,
            },
            ScramSecret::SaltedPassword { .. } => unreachable!("verifier_from_salted_password"),
        }
    }

    /// A verifier nobody's password matches: an unknown user's exchange
    /// runs to its end and fails like a wrong password.
    pub(crate) fn random() -> ScramVerifier {
        ScramVerifier {
            salt: rand::random::<[u8; 16]>().to_vec(),
            iterations: 4096,
            stored_key: rand::random::<[u8; 32]>().to_vec(),
            server_key: rand::random::<[u8; 32]>().to_vec(),
        }
    }

    pub(crate) fn into_secret(self) -> ScramSecret {
        ScramSecret::Verifier {
            salt: self.salt,
            iterations: self.iterations,
            stored_key: self.stored_key,
            server_key: self.server_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ScramVerifier;

    #[test]
    fn verifiers_depend_on_password_and_salt() {
        let v = ScramVerifier::derive("pencil", b"0123456789abcdef", 4096);
        assert_eq!(v.salt, b"0123456789abcdef");
        assert_eq!((v.stored_key.len(), v.server_key.len()), (32, 32));
        assert_eq!(
            v,
            ScramVerifier::derive("pencil", b"0123456789abcdef", 4096)
        );
        assert_ne!(
            v,
            ScramVerifier::derive("pencil!", b"0123456789abcdef", 4096)
        );
        assert_ne!(
            v,
            ScramVerifier::derive("pencil", b"fedcba9876543210", 4096)
        );
    }
}

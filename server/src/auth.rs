//! When clients must give a password (`--auth`). The exchange itself —
//! SCRAM-SHA-256, FATAL 28P01 on failure — is `eddy_wire`'s, against the
//! verifiers of [`crate::users`].
//!
//! Passwords are required when the server is told so (`--auth password`),
//! or, by default (`--auth auto`), as soon as a user has a password or the
//! server listens on an address other than loopback. Otherwise connections
//! are trusted, as a local development server's should be.

use std::path::Path;

use crate::users::UserStore;

/// `--auth`: when clients must give a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Passwords when a user has one or when listening beyond loopback.
    Auto,
    /// Always passwords (SCRAM-SHA-256).
    Password,
    /// Never: every connection is accepted under the name it gives.
    Trust,
}

/// Whether a new connection must authenticate with a password.
pub fn password_required(auth: AuthMode, beyond_loopback: bool, data_dir: &Path) -> bool {
    match auth {
        AuthMode::Trust => false,
        AuthMode::Password => true,
        AuthMode::Auto => {
            // An unreadable users file must not open the door.
            beyond_loopback || UserStore::at(data_dir).has_passwords().unwrap_or(true)
        }
    }
}

//! The agent's identity on the hub. At start-up it presents the token kept in its state folder
//! (when still valid) or the bootstrap credential, trades it for a short-lived token of the
//! `roster-agent` service account (TokenRequest), and writes that token to
//! `<state-dir>/hub-token`. The hub client reads the token from that file, so renewals (at 80%
//! of the lifetime the hub granted, minted with the agent's own identity) need no new client.
//!
//! kube re-reads a `tokenFile` at most about a minute after it changed. A renewed token is
//! written while the old one still has at least [`TOKEN_FILE_RELOAD`] to live (20% of the
//! API's 600 s minimum lifetime is already 120 s), so kube's own reload is enough.

mod current;
mod error;
mod hub;
pub mod kept;
mod settings;
mod state;
mod token;

pub use current::Credentials;
pub use error::CredentialError;
pub use settings::Settings;
pub use state::TOKEN_FILE;
pub use token::{TOKEN_FILE_RELOAD, Token, candidates, refresh_at};

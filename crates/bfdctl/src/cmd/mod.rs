//! One module per subcommand: each has an `Args` struct (clap) and a `run` function returning
//! the exit [`Status`](crate::error::Status).

pub mod import_frr;
pub mod peer;
pub mod peers;
pub mod ready;
pub mod reload;
pub mod routes;
pub mod version;

//! `bfdd`: see the library for everything; this only reads arguments, logs and signals.

use std::path::PathBuf;
use std::process::ExitCode;

use bfdd::config::{Config, LogFormat};
use clap::Parser;

/// BFD daemon (RFC 5880/5881/5883) for OVN-Kubernetes external gateways.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, short = 'c', default_value = "/etc/bfdd/bfdd.toml")]
    config: PathBuf,
    /// Validate this configuration file and exit: 0 when valid, 1 with the error otherwise.
    #[arg(long, value_name = "PATH", conflicts_with = "config")]
    check_config: Option<PathBuf>,
    /// Log format; overrides `[daemon] log-format`.
    #[arg(long, value_enum)]
    log_format: Option<CliLogFormat>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CliLogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = &args.check_config {
        return match Config::load(path) {
            Ok(config) => {
                println!(
                    "{}: ok ({} peers, {} routes)",
                    path.display(),
                    config.peers.len(),
                    config.routes.routes.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        };
    }
    // One thread for the driver: a packet or a deadline wakes exactly one thread. Clients and
    // netlink are served on a thread of their own (see `bfdd::services`). Nothing may start a
    // thread from this runtime (`spawn_blocking`, `tokio::fs`): with `realtime-priority` it
    // would inherit SCHED_FIFO (`bfdd::realtime`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bfdd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // SIGHUP's handler before the load: until it is installed a reload kills the daemon, and
    // loading a large configuration takes a while.
    let hup = {
        let _runtime = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    };
    let mut config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bfdd: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = config.apply_env() {
        eprintln!("bfdd: {e}");
        return ExitCode::from(1);
    }
    let format = match args.log_format {
        Some(CliLogFormat::Text) => LogFormat::Text,
        Some(CliLogFormat::Json) => LogFormat::Json,
        None => config.daemon.log_format,
    };
    bfdd::logging::init(format);
    // SIGTERM's after it: during the load its default action is right (nothing runs yet, and
    // a load stuck on a hung file system still ends; as PID 1 of a container the kernel drops
    // it instead and the runtime's SIGKILL follows), and from here it must say AdminDown.
    let shutdown = {
        let _runtime = runtime.enter();
        bfdd::stop_signal()
    };

    let result = runtime.block_on(bfdd::run(args.config, config, shutdown, hup));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("bfdd: {e}");
            ExitCode::from(1)
        }
    }
}

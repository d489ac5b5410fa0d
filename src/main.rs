//! The `strata` binary: parse the command line, set up logging, run. The only place
//! `anyhow` is used for error reporting. Called by the name `redis-server` (a link), it is
//! `strata server`: a drop-in for scripts and harnesses that start redis-server.

use clap::Parser;

use strata::cli::{server_config, Cli, Command};

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let called = args.first().map(std::path::Path::new);
    if called.and_then(|p| p.file_name()) == Some(std::ffi::OsStr::new("redis-server")) {
        args.insert(1, "server".into());
    }
    let cli = Cli::parse_from(args);
    let code = match cli.command {
        Command::Server { args } if matches!(&args[..], [v] if v == "--version" || v == "-v") => {
            println!("{}", strata::cli::server_version());
            0
        }
        Command::Server { args } => match server_config(&args) {
            Err(e) => {
                eprintln!("strata: {e}");
                2
            }
            Ok((mut config, file)) => {
                // The server works in its data directory, as Redis does (the config file's
                // path made absolute first: CONFIG REWRITE writes it).
                let file = file.map(|f| std::fs::canonicalize(&f).unwrap_or(f));
                match strata::daemon::enter_dir(&config.dir) {
                    Ok(abs) => config.dir = abs,
                    Err(e) => {
                        eprintln!("strata: can't chdir to '{}': {e}", config.dir.display());
                        std::process::exit(1);
                    }
                }
                // Forked before any thread starts (Redis forks right after reading its
                // configuration, too).
                let daemonized = config.get("daemonize").as_deref() == Some("yes");
                if daemonized {
                    if let Err(e) = strata::daemon::daemonize() {
                        eprintln!("strata: cannot daemonize: {e}");
                        std::process::exit(1);
                    }
                }
                let logfile = config.get("logfile").unwrap_or_default();
                if let Err(e) = init_tracing(&config.loglevel, &logfile) {
                    eprintln!("strata: can't open the log file {logfile}: {e}");
                    std::process::exit(1);
                }
                let pidfile = strata::daemon::PidFile::create(
                    &config.get("pidfile").unwrap_or_default(),
                    daemonized,
                );
                // A Redis data directory: its RDB file first (see `import_at_start`). Its
                // start is announced with the pid, as Redis's logo line precedes its load
                // (harnesses such as Redis's test suite wait for ` PID: n` to find a
                // server that then fails loading).
                let announce = |path: &std::path::Path| {
                    tracing::info!(
                        "strata {} PID: {} importing the Redis RDB file {}",
                        strata::STRATA_VERSION,
                        std::process::id(),
                        path.display()
                    );
                };
                match strata::offline::restore::import_at_start(&config, announce) {
                    Ok(Some(s)) => {
                        tracing::info!(
                            "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
                            s.keys,
                            s.expired,
                            s.empty_skipped
                        );
                        tracing::info!(
                            "Imported the Redis RDB file {} into the new data directory: {} keys ({} already expired), {} function libraries. DB loaded from disk",
                            config.get("dbfilename").unwrap_or_default(),
                            s.keys,
                            s.expired,
                            s.functions
                        )
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!("Error reading the RDB file: {e}");
                        tracing::error!("Terminating server after rdb file reading failure.");
                        eprintln!("strata: cannot import the RDB file: {e}");
                        pidfile.remove();
                        std::process::exit(1);
                    }
                }
                let code = match strata::server::run_blocking(config, file) {
                    Ok(()) => 0,
                    Err(e) => {
                        tracing::error!("{e:#}");
                        eprintln!("strata: {e:#}");
                        1
                    }
                };
                pidfile.remove();
                code
            }
        },
        Command::Fsck { dir, repair, json } => {
            let report = strata::offline::fsck::check(&dir, repair);
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.text());
            }
            report.exit_code()
        }
        Command::Dump {
            dir,
            output,
            format,
            databases,
        } => match strata::offline::dump::dump(&dir, &output, format, databases) {
            Ok(s) => {
                eprintln!(
                    "wrote {} key(s), {} function librar(ies), {} byte(s) to {} ({} expired key(s) left out)",
                    s.keys,
                    s.functions,
                    s.bytes,
                    output.display(),
                    s.expired
                );
                0
            }
            Err(e) => {
                eprintln!("strata dump: {e}");
                1
            }
        },
        Command::Restore {
            dir,
            input,
            force,
            databases,
        } => match strata::offline::restore::restore(&dir, &input, force, databases) {
            Ok(s) => {
                eprintln!(
                    "restored {} key(s), {} function librar(ies) into {} as its snapshot ({} expired key(s) left out)",
                    s.keys,
                    s.functions,
                    dir.display(),
                    s.expired
                );
                0
            }
            Err(e) => {
                eprintln!("strata restore: {e}");
                1
            }
        },
        Command::Compact { dir } => match strata::offline::compact::compact(&dir) {
            Ok(s) => {
                eprintln!(
                    "snapshot of {} key(s) at LSN {} ({} byte(s)); {} byte(s) of log and old snapshots reclaimed",
                    s.keys, s.lsn, s.snapshot_bytes, s.reclaimed_bytes
                );
                0
            }
            Err(e) => {
                eprintln!("strata compact: {e}");
                1
            }
        },
    };
    std::process::exit(code);
}

/// Logging at `loglevel`, to `logfile` as Redis does: the empty name is standard output,
/// any other is a file opened for appending (an error if it cannot be opened).
fn init_tracing(level: &str, logfile: &str) -> std::io::Result<()> {
    let filter = match level {
        "debug" => "debug",
        "verbose" => "info",
        "notice" => "info",
        "warning" => "warn",
        _ => "error",
    };
    let env = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let fmt = tracing_subscriber::fmt().with_env_filter(env);
    if logfile.is_empty() {
        fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_writer(std::io::stdout)
            .init();
    } else {
        // Opened for each line, as Redis opens its log file for each line: a log rotated by
        // renaming (Debian's logrotate rule for redis-server) is followed by a new file.
        // The first open reports a file that cannot be opened at all.
        let path = std::path::PathBuf::from(logfile);
        drop(open_log(&path)?);
        fmt.with_ansi(false)
            .with_writer(move || LogLine(open_log(&path).ok()))
            .init();
    }
    Ok(())
}

fn open_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// One log line's writer: the log file as it is now (None: it could not be opened, and the
/// line is dropped, as Redis drops it).
struct LogLine(Option<std::fs::File>);

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.0 {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

//! The command line: `strata server [CONFIG_FILE] [-] [--directive value …]` (redis.conf
//! names; `-` reads more from standard input) or `strata server --version`.
//! `strata fsck --dir D [--repair] [--json]`, `strata dump --dir D --output F
//! [--format rdb|resp]`, `strata restore --dir D --input F [--force]`. Later: `compact`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// strata: a durable, Redis-compatible key-value server.
#[derive(Parser, Debug)]
#[command(name = "strata", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: `strata server [CONFIG_FILE] [--directive value ...]`.
    #[command(after_help = directive_help())]
    Server {
        /// An optional redis.conf-style file, then `--name value` directives.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Verify a data directory offline: manifest, headers, every record CRC, LSN
    /// continuity, payloads, orphans. Exit 0 clean, 1 torn tail (found or repaired),
    /// 2 damage a human must look at. Never deletes data.
    Fsck {
        /// The data directory.
        #[arg(long, default_value = "./strata-data")]
        dir: PathBuf,
        /// Cut a torn tail of the last segment (the cut bytes are kept in a side file).
        #[arg(long)]
        repair: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a data directory offline (no server needed; fails while a server holds the
    /// directory): an RDB file redis-server 7.0 loads, a RESP stream of RESTORE commands
    /// for `redis-cli --pipe` (both leave expired keys out), or a strata snapshot file.
    Dump {
        /// The data directory.
        #[arg(long, default_value = "./strata-data")]
        dir: PathBuf,
        /// The file to write (written to `<output>.tmp`, fsynced, then renamed).
        #[arg(long)]
        output: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "rdb")]
        format: crate::offline::dump::Format,
        /// The `databases` directive the directory is served with.
        #[arg(long, default_value_t = 16)]
        databases: u64,
    },
    /// Import an RDB file (REDIS magic), a strata snapshot (STRATASN) or a RESP stream of
    /// SELECT/RESTORE/FUNCTION LOAD commands (starts with `*`) into a data directory: a new
    /// directory gets it as its snapshot; with --force, an existing one gets log records.
    /// Keys whose TTL has passed are left out.
    Restore {
        /// The data directory.
        #[arg(long, default_value = "./strata-data")]
        dir: PathBuf,
        /// The RDB file or RESP stream to read.
        #[arg(long)]
        input: PathBuf,
        /// Restore into a non-empty directory: a FLUSHALL is logged first, so the restored
        /// keys REPLACE everything the directory held (its old records stay in the log).
        #[arg(long)]
        force: bool,
        /// Database indexes the input may use (the server then needs `--databases` as many).
        #[arg(long, default_value_t = 16)]
        databases: u64,
    },
    /// Compact a data directory offline: snapshot the keyspace it holds and retire the log
    /// segments the snapshot covers. Refuses while a server holds the directory's LOCK.
    Compact {
        /// The data directory.
        #[arg(long, default_value = "./strata-data")]
        dir: PathBuf,
    },
}

fn directive_help() -> String {
    let mut s = String::from("Directives (redis.conf names; in a file as `name value`, on the command line as `--name value`):\n");
    for (name, help) in Config::help() {
        s.push_str(&format!("  --{name:<28} {help}\n"));
    }
    s
}

/// What `strata server --version` (or `-v`) prints, as `redis-server --version` does,
/// with the Redis version strata answers as (`v=`, which tools read).
pub fn server_version() -> String {
    format!(
        "strata server {} (Redis server v=7.0.15 compatible) malloc=jemalloc bits={}",
        crate::STRATA_VERSION,
        usize::BITS
    )
}

/// Build a `Config` from the server arguments: a config file first (if any), then
/// `--name value…` pairs, exactly as `redis-server` does.
pub fn server_config(args: &[String]) -> Result<(Config, Option<PathBuf>), String> {
    let mut config = Config::default();
    let mut rest = args;
    let mut file = None;
    if let Some(first) = args.first() {
        if !first.starts_with("--") && first != "-" {
            let text = std::fs::read_to_string(first)
                .map_err(|e| format!("cannot read config file {first}: {e}"))?;
            config.apply_file_text(&text).map_err(|e| e.report(first))?;
            file = Some(PathBuf::from(first));
            rest = &args[1..];
        }
    }
    if rest.first().is_some_and(|a| a == "-") {
        // `-`: more configuration from standard input, after the file (redis-server's
        // `redis-server [file] - [--options]`).
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("cannot read the configuration from standard input: {e}"))?;
        config
            .apply_file_text(&text)
            .map_err(|e| e.report("(standard input)"))?;
        rest = &rest[1..];
    }
    for (name, vals) in option_groups(rest)? {
        let error = |reason: String| {
            crate::config::LoadError {
                line: None,
                text: crate::config::repr_line(&name, &vals),
                reason,
            }
            .report("")
        };
        if name.eq_ignore_ascii_case("include") {
            // (Redis appends its options to the file's text: `--include` works too.)
            config.include(&vals, 0).map_err(error)?;
            continue;
        }
        config
            .set_args(&name, &vals)
            .map_err(|e| error(e.reason()))?;
    }
    crate::server::check_config(&config).map_err(|e| {
        let source = file.as_ref().map(|f| f.display().to_string());
        e.report(e.line.and(source.as_deref()).unwrap_or(""))
    })?;
    Ok((config, file))
}

/// Group `--name value ...` arguments as redis-server does: an argument starting with
/// `--` names an option, unless the option before it has no value yet (then it is that
/// value: `--port --bla` sets port to "--bla"); `"--name value"` in one argument is both;
/// a bare `--save` (last, or before another option) means `--save ""`; arguments before
/// any option are a `name value ...` line.
fn option_groups(rest: &[String]) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let mut last_has_value = true;
    for (j, a) in rest.iter().enumerate() {
        match a.strip_prefix("--") {
            Some(opt) if last_has_value => {
                let mut words = crate::config::crate_split(opt)
                    .ok_or_else(|| format!("unbalanced quotes in '{a}'"))?
                    .into_iter();
                let name = words.next().unwrap_or_default();
                let vals: Vec<String> = words.collect();
                last_has_value = !vals.is_empty();
                if !last_has_value
                    && name.eq_ignore_ascii_case("save")
                    && rest.get(j + 1).is_none_or(|n| n.starts_with("--"))
                {
                    groups.push((name, vec![String::new()]));
                    last_has_value = true;
                    continue;
                }
                groups.push((name, vals));
            }
            _ => {
                match groups.last_mut() {
                    Some((_, vals)) => vals.push(a.clone()),
                    // Before any option redis-server reads `name value ...` as a line of
                    // the file (`redis-server loglevel verbose` works there).
                    None => groups.push((a.clone(), Vec::new())),
                }
                last_has_value = true;
            }
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn directives_parse() {
        let (c, f) = server_config(&s(&[
            "--port",
            "7000",
            "--appendfsync",
            "everysec",
            "--bind",
            "127.0.0.1",
            "::1",
        ]))
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.bind, ["127.0.0.1", "::1"]);
        assert!(f.is_none());
        let e = server_config(&s(&["--nope", "1"])).unwrap_err();
        assert!(
            e.contains("'nope \"1\"'") && e.contains("Bad directive"),
            "{e}"
        );
        assert!(server_config(&s(&["--port", "x"])).is_err());
        assert!(server_config(&s(&["--port"])).is_err());
        let (c, _) = server_config(&s(&["--save", "", "--maxmemory", "1gb"])).unwrap();
        assert_eq!(c.get("maxmemory").unwrap(), (1u64 << 30).to_string());
        // `--include` as in redis-server (its options extend the file's text).
        let tmp = tempfile::tempdir().unwrap();
        let inc = tmp.path().join("extra.conf");
        std::fs::write(&inc, "hz 25\nport 7001\n").unwrap();
        let inc = inc.display().to_string();
        let (c, _) = server_config(&s(&["--include", &inc, "--port", "7002"])).unwrap();
        assert_eq!((c.get("hz").as_deref(), c.port), (Some("25"), 7002));
        let e = server_config(&s(&["--include", "/nonexistent/x.conf"])).unwrap_err();
        assert!(e.contains("can't open config file"), "{e}");
    }

    /// redis-server's command-line grouping and error report (Redis's introspection test
    /// "redis-server command line arguments - error cases"): the offending option as
    /// `'name "arg" ...'` and Redis's reason.
    #[test]
    fn command_line_errors_as_redis() {
        for (args, want) in [
            (&["--port"][..], "'port'\nwrong number of arguments"),
            (
                &["--port", "6380", "--loglevel"],
                "'loglevel'\nwrong number of arguments",
            ),
            (
                &["--port", "6379", "6380"],
                "'port \"6379\" \"6380\"'\nwrong number of arguments",
            ),
            (
                &["--port", "--loglevel", "verbose"],
                "'port \"--loglevel\" \"verbose\"'\nwrong number of arguments",
            ),
            (
                &["--port", "--bla", "--loglevel", "verbose"],
                "'port \"--bla\"'\nargument couldn't be parsed into an integer",
            ),
            (
                &["--logfile", "--my--log--file", "--loglevel", "--bla"],
                "'loglevel \"--bla\"'\nargument(s) must be one of the following",
            ),
            (
                &["--shutdown-on-sigint"],
                "'shutdown-on-sigint'\nargument(s) must be one of the following",
            ),
            (
                &["--replicaof", "127.0.0.1", "abc"],
                "'replicaof \"127.0.0.1\" \"abc\"'\nInvalid master port",
            ),
            (
                &["--replicaof", "--127.0.0.1", "--abc"],
                "'replicaof \"--127.0.0.1\"'\nBad directive or wrong number of arguments",
            ),
        ] {
            let e = server_config(&s(args)).unwrap_err();
            assert!(e.contains("FATAL CONFIG FILE ERROR"), "{args:?}: {e}");
            assert!(e.contains(want), "{args:?}: {e}");
        }
        // Name and value in one argument; a bare --save clears.
        let (c, _) = server_config(&s(&["--maxmemory 700mb", "--save", "--port", "7001"])).unwrap();
        assert_eq!(c.get("maxmemory").unwrap(), (700u64 << 20).to_string());
        assert_eq!(c.get("save").unwrap(), "");
        assert_eq!(c.port, 7001);
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("r.conf");
        std::fs::write(&conf, "port 7002\n").unwrap();
        let (c, _) = server_config(&s(&[
            conf.to_str().unwrap(),
            "loglevel",
            "verbose",
            "--maxmemory '700mb'",
            "--proc-title-template",
            "--my--title",
        ]))
        .unwrap();
        assert_eq!(c.loglevel, "verbose");
        assert_eq!(c.port, 7002);
        assert_eq!(c.get("maxmemory").unwrap(), (700u64 << 20).to_string());
        assert_eq!(c.get("proc-title-template").unwrap(), "--my--title");
        let (c, _) = server_config(&s(&["--shutdown-on-sigint", "now force"])).unwrap();
        assert_eq!(c.get("shutdown-on-sigint").unwrap(), "now force");
    }
}

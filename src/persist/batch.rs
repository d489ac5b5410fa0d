//! The payload of a `Batch` record (kind 1): one execution unit as a list of
//! `(db, argv)` commands. Implements format/log.md §Batch payload. Pure functions; the
//! log never looks inside a payload, replay (`cmd::dispatch::replay`) does.
//!
//! Each command carries its own db index (unlike the single `db` per batch sketched in
//! ARCHITECTURE.md 2.1) because one unit (MOVE, SWAPDB, FLUSHALL, EXEC with SELECT) may
//! touch several databases.

use bytes::Bytes;

use super::error::Corruption;

/// Appends the encoding of `cmds` to `out`.
///
/// Counts and lengths are `u32` on disk; an execution unit with more than `u32::MAX`
/// commands or arguments, or an argument over 4 GiB, cannot exist (records are capped at
/// 512 MiB), so those are treated as invariants.
pub fn encode_batch(cmds: &[(u16, Vec<Bytes>)], out: &mut Vec<u8>) {
    let size: usize = 4 + cmds
        .iter()
        .map(|(_, argv)| 6 + argv.iter().map(|a| 4 + a.len()).sum::<usize>())
        .sum::<usize>();
    out.reserve(size);
    out.extend_from_slice(&len_u32(cmds.len()).to_le_bytes());
    for (db, argv) in cmds {
        out.extend_from_slice(&db.to_le_bytes());
        out.extend_from_slice(&len_u32(argv.len()).to_le_bytes());
        for arg in argv {
            out.extend_from_slice(&len_u32(arg.len()).to_le_bytes());
            out.extend_from_slice(arg);
        }
    }
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).expect("batch counts and lengths fit in u32 (records are capped at 512 MiB)")
}

/// A cursor over the payload that reports structural errors as `Corruption`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Corruption> {
        if self.remaining() < N {
            return Err(Corruption::Batch(what));
        }
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        Ok(a)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, Corruption> {
        Ok(u16::from_le_bytes(self.take::<2>(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Corruption> {
        Ok(u32::from_le_bytes(self.take::<4>(what)?))
    }
}

/// Decodes a batch payload. Validation (format/log.md §Batch payload): every count and
/// length must fit in the remaining bytes (`Batch`/`BadLength`), every command has at least
/// one argument (`Batch("empty command")`), and nothing may follow the last command
/// (`TrailingBytes`).
pub fn decode_batch(payload: &[u8]) -> Result<Vec<(u16, Vec<Bytes>)>, Corruption> {
    // One copy of the payload; every argument is a zero-copy slice of it.
    let owned = Bytes::copy_from_slice(payload);
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let count = r.u32("truncated command count")?;
    // Each command needs at least 6 bytes: never trust a count to size an allocation.
    if u64::from(count) * 6 > r.remaining() as u64 {
        return Err(Corruption::BadLength(u64::from(count)));
    }
    let mut cmds = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let db = r.u16("truncated command header")?;
        let argc = r.u32("truncated command header")?;
        if argc == 0 {
            return Err(Corruption::Batch("empty command"));
        }
        if u64::from(argc) * 4 > r.remaining() as u64 {
            return Err(Corruption::BadLength(u64::from(argc)));
        }
        let mut argv = Vec::with_capacity(argc as usize);
        for _ in 0..argc {
            let len = r.u32("truncated argument length")?;
            if len as usize > r.remaining() {
                return Err(Corruption::BadLength(u64::from(len)));
            }
            argv.push(owned.slice(r.pos..r.pos + len as usize));
            r.pos += len as usize;
        }
        cmds.push((db, argv));
    }
    if r.remaining() != 0 {
        return Err(Corruption::TrailingBytes);
    }
    Ok(cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn round_trip() {
        let cmds = vec![
            (0u16, argv(&["SET", "k", "v"])),
            (3u16, argv(&["DEL", "k"])),
            (
                15u16,
                vec![Bytes::new(), Bytes::from_static(&[0, 255, 13, 10])],
            ),
        ];
        let mut out = Vec::new();
        encode_batch(&cmds, &mut out);
        assert_eq!(decode_batch(&out).unwrap(), cmds);
        let mut empty = Vec::new();
        encode_batch(&[], &mut empty);
        assert_eq!(empty, 0u32.to_le_bytes());
        assert!(decode_batch(&empty).unwrap().is_empty());
    }

    #[test]
    fn layout() {
        let mut out = Vec::new();
        encode_batch(&[(2, argv(&["DEL", "k"]))], &mut out);
        let want: Vec<u8> = [
            &1u32.to_le_bytes()[..],
            &2u16.to_le_bytes(),
            &2u32.to_le_bytes(),
            &3u32.to_le_bytes(),
            b"DEL",
            &1u32.to_le_bytes(),
            b"k",
        ]
        .concat();
        assert_eq!(out, want);
    }

    #[test]
    fn malformed() {
        let mut good = Vec::new();
        encode_batch(&[(0, argv(&["SET", "k", "v"]))], &mut good);
        // Every strict prefix fails (never panics, never succeeds).
        for cut in 0..good.len() {
            assert!(decode_batch(&good[..cut]).is_err(), "cut {cut}");
        }
        assert_eq!(
            decode_batch(&[]),
            Err(Corruption::Batch("truncated command count"))
        );
        assert_eq!(decode_batch(&good[..5]), Err(Corruption::BadLength(1)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode_batch(&trailing), Err(Corruption::TrailingBytes));
        // argc = 0
        let mut b = 1u32.to_le_bytes().to_vec();
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode_batch(&b), Err(Corruption::Batch("empty command")));
        // huge count cannot drive an allocation
        let b = u32::MAX.to_le_bytes();
        assert_eq!(
            decode_batch(&b),
            Err(Corruption::BadLength(u64::from(u32::MAX)))
        );
        // argument length past the end
        let mut b = good.clone();
        b[10..14].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(decode_batch(&b), Err(Corruption::BadLength(1000)));
    }
}

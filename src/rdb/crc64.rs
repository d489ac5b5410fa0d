//! CRC-64/Jones as Redis computes it (`crc64.c`): the reflected form of polynomial
//! 0xad93d23594c935a9, initial value 0, no final xor. It guards DUMP payloads and the
//! trailer of RDB files. Table-driven, one byte at a time.

/// The reflected polynomial (bit-reversal of 0xad93d23594c935a9).
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn make_table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

static TABLE: [u64; 256] = make_table();

/// Continue a CRC over `data` (start with `crc = 0`), as Redis's `crc64(crc, p, len)`.
pub fn update(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// The CRC of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jones_test_vectors() {
        // Redis's crc64.c self-test vectors.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64(b""), 0);
        // Incremental equals one-shot.
        assert_eq!(update(crc64(b"1234"), b"56789"), crc64(b"123456789"));
    }
}

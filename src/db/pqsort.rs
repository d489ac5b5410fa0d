//! Redis 7.0's `pqsort`: a Bentley–McIlroy quicksort (NetBSD's qsort, without the "no
//! swaps: switch to insertion sort" shortcut) that only recurses into partitions
//! overlapping the wanted ranks. SORT … LIMIT and GEO … COUNT use it so that elements
//! comparing equal come out in exactly Redis's order (a stable sort would differ).

use std::cmp::Ordering;

/// Redis's `pqsort` (NetBSD's qsort that skips the partitions outside the `lrange..=rrange`
/// elements), so that elements comparing equal come out in the same order as Redis.
pub fn pqsort<T>(v: &mut [T], lrange: i64, rrange: i64, cmp: &impl Fn(&T, &T) -> Ordering) {
    let n = v.len();
    pqsort_from(v, 0, n, lrange, rrange, cmp);
}

/// True if the `k` elements from `s` hold no part of the `lr..=rr` range (both ends lie
/// before them, or both after them).
fn outside(s: usize, k: usize, lr: i64, rr: i64) -> bool {
    let s = i64::try_from(s).unwrap_or(i64::MAX);
    let e = s.saturating_add(i64::try_from(k).unwrap_or(i64::MAX));
    (lr < s && rr < s) || (lr >= e && rr >= e)
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    if cmp(&v[a], &v[b]).is_lt() {
        if cmp(&v[b], &v[c]).is_lt() {
            b
        } else if cmp(&v[a], &v[c]).is_lt() {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]).is_gt() {
        b
    } else if cmp(&v[a], &v[c]).is_lt() {
        a
    } else {
        c
    }
}

/// Swap the `k` elements from `a` with the `k` elements from `b`, pairwise.
fn vecswap<T>(v: &mut [T], a: usize, b: usize, k: usize) {
    for i in 0..k {
        v.swap(a + i, b + i);
    }
}

fn pqsort_from<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    lr: i64,
    rr: i64,
    cmp: &impl Fn(&T, &T) -> Ordering,
) {
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]).is_gt() {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c.is_gt() {
                    break;
                }
                if c.is_eq() {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c.is_lt() {
                    break;
                }
                if c.is_eq() {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !outside(a, r, lr, rr) {
            pqsort_from(v, a, r, lr, rr, cmp);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !outside(a, r, lr, rr) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::pqsort;

    #[test]
    fn wanted_ranks_end_up_sorted() {
        let mut seed = 99u64;
        for len in [0usize, 1, 5, 7, 8, 12, 41, 100, 300] {
            let mut v: Vec<(u32, usize)> = (0..len)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (((seed >> 33) % 10) as u32, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|p| p.0);
            let k = len.min(5);
            if k == 0 {
                continue;
            }
            pqsort(&mut v, 0, k as i64 - 1, &|a, b| a.0.cmp(&b.0));
            let got: Vec<u32> = v[..k].iter().map(|p| p.0).collect();
            let exp: Vec<u32> = want[..k].iter().map(|p| p.0).collect();
            assert_eq!(got, exp, "len {len}");
        }
    }
}

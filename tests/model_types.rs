//! Randomized model tests of the list and sorted-set types against simple references
//! (a `VecDeque` for lists, a sorted `Vec` for sorted-set ranks): every operation the
//! commands use, at node boundaries (lists: every fill policy, element sizes around the
//! one-byte header and the front-room cap) and through the tree's rank bookkeeping
//! (sorted sets: inserts, deletes, score updates, rank ranges, warming).

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata::db::list::{End, List};
use strata::db::zset::{cmp_pair, Limits, ZSet};

fn elem(rng: &mut StdRng, pool: bool) -> Vec<u8> {
    if pool {
        // Small values that repeat (LREM/LPOS hits).
        return format!("v{}", rng.gen_range(0..6)).into_bytes();
    }
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1 => rng.gen_range(125..131),
        2 => rng.gen_range(1000..5000),
        3 => rng.gen_range(8000..20000),
        _ => rng.gen_range(1..40),
    };
    let b = rng.gen::<u8>();
    (0..len).map(|i| b.wrapping_add(i as u8)).collect()
}

fn check_list(l: &List, m: &VecDeque<Vec<u8>>, ctx: &str) {
    assert_eq!(l.len(), m.len(), "{ctx}: len");
    let got: Vec<&[u8]> = l.iter().collect();
    let want: Vec<&[u8]> = m.iter().map(|v| v.as_slice()).collect();
    assert!(got == want, "{ctx}: contents differ");
    let rev: Vec<&[u8]> = l.iter().rev().collect();
    let want_rev: Vec<&[u8]> = m.iter().rev().map(|v| v.as_slice()).collect();
    assert!(rev == want_rev, "{ctx}: reverse contents differ");
}

fn norm_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut s = if start < 0 { llen + start } else { start };
    let mut e = if stop < 0 { llen + stop } else { stop };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= llen {
        return None;
    }
    if e >= llen {
        e = llen - 1;
    }
    Some((s as usize, e as usize))
}

#[test]
fn list_matches_a_deque_under_random_operations() {
    for seed in 0..60u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let fill: i64 = [-2, -1, -5, 1, 2, 3, 128, 0][seed as usize % 8];
        let mut l = List::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        for step in 0..3000 {
            let ctx = format!("seed {seed} fill {fill} step {step}");
            let pool = rng.gen_bool(0.5);
            match rng.gen_range(0..100) {
                0..=24 => {
                    let v = elem(&mut rng, pool);
                    l.push(End::Left, &v, fill);
                    m.push_front(v);
                }
                25..=44 => {
                    let v = elem(&mut rng, pool);
                    l.push(End::Right, &v, fill);
                    m.push_back(v);
                }
                45..=54 => {
                    assert_eq!(
                        l.pop(End::Left).map(|b| b.to_vec()),
                        m.pop_front(),
                        "{ctx}: lpop"
                    );
                }
                55..=62 => {
                    assert_eq!(
                        l.pop(End::Right).map(|b| b.to_vec()),
                        m.pop_back(),
                        "{ctx}: rpop"
                    );
                }
                63..=68 => {
                    let i = rng.gen_range(0..=m.len());
                    let v = elem(&mut rng, pool);
                    l.insert(i, &v, fill);
                    m.insert(i, v);
                }
                69..=74 => {
                    if !m.is_empty() {
                        let i = rng.gen_range(0..m.len() + 1);
                        let v = elem(&mut rng, pool);
                        assert_eq!(l.set(i, &v, fill), i < m.len(), "{ctx}: lset");
                        if i < m.len() {
                            m[i] = v;
                        }
                    }
                }
                75..=79 => {
                    let v = format!("v{}", rng.gen_range(0..6)).into_bytes();
                    let count: i64 = rng.gen_range(-3..=3);
                    let mut want = 0;
                    let limit = if count == 0 {
                        usize::MAX
                    } else {
                        count.unsigned_abs() as usize
                    };
                    if count >= 0 {
                        let mut out = VecDeque::new();
                        for e in m.drain(..) {
                            if e == v && want < limit {
                                want += 1;
                            } else {
                                out.push_back(e);
                            }
                        }
                        m = out;
                    } else {
                        let mut out = VecDeque::new();
                        for e in m.drain(..).rev() {
                            if e == v && want < limit {
                                want += 1;
                            } else {
                                out.push_front(e);
                            }
                        }
                        m = out;
                    }
                    assert_eq!(l.remove(count, &v), want, "{ctx}: lrem");
                }
                80..=83 => {
                    let n = m.len() as i64 + 2;
                    let s = rng.gen_range(-n..=n);
                    let e = rng.gen_range(-n..=n);
                    let before = m.len();
                    match norm_range(s, e, m.len()) {
                        None => m.clear(),
                        Some((a, b)) => {
                            m.truncate(b + 1);
                            m.drain(..a);
                        }
                    }
                    assert_eq!(l.trim(s, e), before - m.len(), "{ctx}: ltrim");
                }
                84..=91 => {
                    let n = m.len() as i64 + 2;
                    let s = rng.gen_range(-n..=n);
                    let e = rng.gen_range(-n..=n);
                    let got: Vec<Vec<u8>> = match strata::db::list::range(s, e, l.len()) {
                        None => Vec::new(),
                        Some((a, b)) => l.range(a, b).map(|x| x.to_vec()).collect(),
                    };
                    let want: Vec<Vec<u8>> = match norm_range(s, e, m.len()) {
                        None => Vec::new(),
                        Some((a, b)) => m.range(a..=b).cloned().collect(),
                    };
                    assert!(got == want, "{ctx}: lrange {s} {e}");
                }
                92..=95 => {
                    if !m.is_empty() {
                        let i = rng.gen_range(0..m.len());
                        assert_eq!(l.get(i), Some(m[i].as_slice()), "{ctx}: lindex");
                    }
                    assert_eq!(l.get(m.len()), None);
                }
                _ => {
                    let v = format!("v{}", rng.gen_range(0..6)).into_bytes();
                    let rank: i64 = [1, 2, -1, -2][rng.gen_range(0..4)];
                    let count = rng.gen_range(0..3);
                    let got = l.positions(&v, rank, count, 0);
                    let hits: Vec<usize> = if rank > 0 {
                        (0..m.len()).filter(|&i| m[i] == v).collect()
                    } else {
                        (0..m.len()).rev().filter(|&i| m[i] == v).collect()
                    };
                    let skip = rank.unsigned_abs() as usize - 1;
                    let want: Vec<usize> = hits
                        .into_iter()
                        .skip(skip)
                        .take(if count == 0 { usize::MAX } else { count })
                        .collect();
                    assert_eq!(got, want, "{ctx}: lpos");
                }
            }
            check_list(&l, &m, &ctx);
            if step % 500 == 0 {
                let c = l.clone();
                check_list(&c, &m, &ctx);
            }
        }
    }
}

const LIM: Limits = Limits {
    entries: 16,
    value: 24,
};

fn sorted(m: &std::collections::HashMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
    v.sort_by(|a, b| cmp_pair(a.1, &a.0, b.1, &b.0));
    v
}

fn owned(v: Vec<(Box<[u8]>, f64)>) -> Vec<(Vec<u8>, f64)> {
    v.into_iter().map(|(m, s)| (m.to_vec(), s)).collect()
}

#[test]
fn zset_matches_a_sorted_vec_under_random_operations() {
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        let mut z = if seed % 3 == 0 {
            ZSet::new_big()
        } else {
            ZSet::new()
        };
        let mut m: std::collections::HashMap<Vec<u8>, f64> = Default::default();
        let members = [20usize, 60, 300, 2000][seed as usize % 4];
        let scores = [3i64, 50, 1_000_000][seed as usize % 3];
        for step in 0..4000 {
            let ctx = format!("seed {seed} step {step}");
            let member = if rng.gen_bool(0.02) {
                vec![b'x'; 30] // longer than LIM.value: converts
            } else {
                format!("m{}", rng.gen_range(0..members)).into_bytes()
            };
            let score = match rng.gen_range(0..20) {
                0 => f64::INFINITY,
                1 => f64::NEG_INFINITY,
                2 => -0.0,
                3 => 0.0,
                _ => rng.gen_range(-scores..=scores) as f64 / 2.0,
            };
            match rng.gen_range(0..100) {
                0..=39 => {
                    let old = z.set(&member, score, LIM);
                    let want = m.get(&member).copied();
                    // An equal score (-0 vs 0 included) changes nothing: the stored one stays.
                    if want != Some(score) {
                        m.insert(member.clone(), score);
                    }
                    assert_eq!(old, want, "{ctx}: set");
                }
                40..=54 => {
                    assert_eq!(z.remove(&member), m.remove(&member), "{ctx}: remove");
                }
                55..=59 => {
                    let v = sorted(&m);
                    let n = v.len() + 2;
                    let lo = rng.gen_range(0..n);
                    let hi = rng.gen_range(0..n);
                    let want: Vec<(Vec<u8>, f64)> = if lo < hi.min(v.len()) {
                        v[lo..hi.min(v.len())].to_vec()
                    } else {
                        Vec::new()
                    };
                    for (k, _) in &want {
                        m.remove(k);
                    }
                    assert_eq!(owned(z.remove_range(lo, hi)), want, "{ctx}: remove_range");
                }
                60..=64 => {
                    // ZPOPMIN / ZPOPMAX
                    let v = sorted(&m);
                    if let Some(first) = v.first() {
                        let (k, s) = if rng.gen_bool(0.5) {
                            first.clone()
                        } else {
                            v[v.len() - 1].clone()
                        };
                        let i = v.iter().position(|(kk, _)| *kk == k).unwrap();
                        assert_eq!(z.at(i).map(|(a, b)| (a.to_vec(), b)), Some((k.clone(), s)));
                        assert_eq!(
                            owned(z.remove_range(i, i + 1)),
                            vec![(k.clone(), s)],
                            "{ctx}: pop"
                        );
                        m.remove(&k);
                    }
                }
                65..=66 => z.convert_to_big(),
                67..=69 => {
                    let q: Vec<Vec<u8>> = (0..rng.gen_range(1..70))
                        .map(|_| format!("m{}", rng.gen_range(0..members)).into_bytes())
                        .collect();
                    let qs: Vec<(&ZSet, &[u8])> = q.iter().map(|k| (&z, k.as_slice())).collect();
                    ZSet::warm_paths(&qs);
                    for k in &q {
                        z.warm_node(z.warm_bucket(k));
                    }
                }
                _ => {}
            }
            // Ranks, ranges, order.
            let v = sorted(&m);
            assert_eq!(z.len(), v.len(), "{ctx}: len");
            if step % 7 == 0 || v.len() < 40 {
                assert_eq!(owned(z.to_vec()), v, "{ctx}: order");
            }
            for _ in 0..3 {
                let k = format!("m{}", rng.gen_range(0..members)).into_bytes();
                let want = v.iter().position(|(kk, _)| *kk == k);
                assert_eq!(
                    z.rank(&k),
                    want,
                    "{ctx}: rank of {:?}",
                    String::from_utf8_lossy(&k)
                );
                assert_eq!(z.score(&k), m.get(&k).copied(), "{ctx}: score");
            }
            if !v.is_empty() {
                let n = v.len() + 2;
                let lo = rng.gen_range(0..n);
                let hi = rng.gen_range(0..n);
                let rev = rng.gen_bool(0.5);
                let mut want: Vec<(Vec<u8>, f64)> = if lo < hi.min(v.len()) {
                    v[lo..hi.min(v.len())].to_vec()
                } else {
                    Vec::new()
                };
                if rev {
                    want.reverse();
                }
                assert_eq!(
                    owned(z.range_vec(lo, hi, rev)),
                    want,
                    "{ctx}: range {lo} {hi} {rev}"
                );
                let i = rng.gen_range(0..v.len());
                assert_eq!(
                    z.at(i).map(|(a, b)| (a.to_vec(), b)),
                    Some(v[i].clone()),
                    "{ctx}: at"
                );
                let bound = v[i].1;
                let want_before = v.iter().filter(|(_, s)| *s < bound).count();
                assert_eq!(
                    z.count_before(|s, _| s < bound),
                    want_before,
                    "{ctx}: count_before"
                );
            }
            if step % 97 == 0 && z.is_big() {
                // ZSCAN covers every member.
                let mut seen = std::collections::HashSet::new();
                let mut cursor = 0u64;
                let mut rounds = 0;
                loop {
                    cursor = z.scan_step(cursor, |mm, _| {
                        seen.insert(mm.to_vec());
                    });
                    rounds += 1;
                    assert!(rounds < 1_000_000, "{ctx}: zscan does not end");
                    if cursor == 0 {
                        break;
                    }
                }
                assert_eq!(seen.len(), m.len(), "{ctx}: zscan coverage");
            }
        }
    }
}

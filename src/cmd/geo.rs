//! Geo commands (GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH GEOSEARCHSTORE GEORADIUS
//! GEORADIUS_RO GEORADIUSBYMEMBER GEORADIUSBYMEMBER_RO): points are sorted-set members
//! whose score is a 52-bit geohash (`db::geo` does the math). Argument parsing follows
//! Redis 7.0's `georadiusGeneric` order and wording; replies use Redis's number
//! formats (coordinates `%.17Lf` trimmed — RESP3 doubles with that text — and distances
//! `%.4f` bulk strings in both protocols). GEOADD is ZADD with computed scores: it runs the
//! ZADD handler on the rewritten argv, which journals `ZADD key [NX|XX] [CH] score member…`
//! itself. The *STORE forms are deterministic given the keyspace and are journaled
//! verbatim.

use std::cmp::Ordering;

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::db::geo::{self, Kind, Shape};
use crate::db::zset::{Limits, ZSet};
use crate::db::{Entry, Value};
use crate::resp::Reply;

/// Register the geo commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Geo;
    let ro = F::READONLY;
    let wd = F::WRITE | F::DENYOOM;
    let one = |s: CommandSpec| s.keys(1, 1, 1).group(g);
    t.push(
        one(cmd("geoadd", -5, wd, geoadd))
            .journal(Journal::Custom)
            .doc(
                "Add one or more geospatial items in the geospatial index represented using a sorted set",
                "3.2.0",
            ),
    );
    t.push(one(cmd("geodist", -4, ro, geodist)).doc(
        "Returns the distance between two members of a geospatial index",
        "3.2.0",
    ));
    t.push(one(cmd("geohash", -2, ro, geohash)).doc(
        "Returns members of a geospatial index as standard geohash strings",
        "3.2.0",
    ));
    t.push(one(cmd("geopos", -2, ro, geopos)).doc(
        "Returns longitude and latitude of members of a geospatial index",
        "3.2.0",
    ));
    t.push(one(cmd("georadius", -6, wd | F::MOVABLE_KEYS, georadius)).doc(
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
        "3.2.0",
    ));
    t.push(
        one(cmd("georadius_ro", -6, ro, georadius_ro))
            .doc("A read-only variant for GEORADIUS", "3.2.10"),
    );
    t.push(one(cmd("georadiusbymember", -5, wd | F::MOVABLE_KEYS, georadiusbymember)).doc(
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
        "3.2.0",
    ));
    t.push(
        one(cmd("georadiusbymember_ro", -5, ro, georadiusbymember_ro))
            .doc("A read-only variant for GEORADIUSBYMEMBER", "3.2.10"),
    );
    t.push(one(cmd("geosearch", -7, ro, geosearch)).doc(
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
        "6.2.0",
    ));
    t.push(
        cmd("geosearchstore", -8, wd, geosearchstore)
            .keys(1, 2, 1)
            .group(g)
            .doc(
                "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
                "6.2.0",
            ),
    );
}

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// Read lookup (stats, lazy expiry) with a type check.
fn read<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Result<Option<&'x ZSet>, CmdError> {
    match x.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// A double argument as Redis's `getDoubleFromObjectOrReply`, with its error text.
fn double_arg(b: &[u8], msg: Option<&str>) -> Result<f64, CmdError> {
    crate::db::strnum::parse_double(b).ok_or_else(|| match msg {
        Some(m) => CmdError::err(m),
        None => CmdError::NotFloat,
    })
}

/// A longitude/latitude pair (`extractLongLatOrReply`).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = double_arg(lon, None)?;
    let lat = double_arg(lat, None)?;
    if !(geo::LON_MIN..=geo::LON_MAX).contains(&lon)
        || !(geo::LAT_MIN..=geo::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::err(format!(
            "invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Meters per unit (`extractUnitOrReply`).
fn unit(b: &[u8]) -> Result<f64, CmdError> {
    if is(b, "m") {
        Ok(1.0)
    } else if is(b, "km") {
        Ok(1000.0)
    } else if is(b, "ft") {
        Ok(0.3048)
    } else if is(b, "mi") {
        Ok(1609.34)
    } else {
        Err(CmdError::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// `radius unit` (`extractDistanceOrReply`): (radius, meters per unit).
fn radius_unit(r: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let d = double_arg(r, Some("need numeric radius"))?;
    if d < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((d, unit(u)?))
}

/// `width height unit` (`extractBoxOrReply`): (width, height, meters per unit).
fn box_unit(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let w = double_arg(w, Some("need numeric width"))?;
    let h = double_arg(h, Some("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((w, h, unit(u)?))
}

/// A member's decoded position (`longLatFromMember`).
fn member_pos(z: &ZSet, m: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(m)
        .map(geo::decode_score)
        .ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

/// A coordinate reply: Redis's human long-double text (bulk in RESP2, double in RESP3).
fn coord(v: f64) -> Reply {
    Reply::DoubleText(geo::format_coord(v))
}

/// A distance reply: `%.4f` as a bulk string in both protocols.
fn dist_reply(v: f64) -> Reply {
    Reply::bulk_string(geo::format_dist(v))
}

/// C's `(long long)` of a double on x86-64 (out of range gives i64::MIN).
fn score_as_i64(s: f64) -> i64 {
    if s.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&s) {
        i64::MIN
    } else {
        s as i64
    }
}

// ---------------------------------------------------------------------------------------
// GEOADD GEOPOS GEODIST GEOHASH
// ---------------------------------------------------------------------------------------

fn geoadd(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < a.len() {
        let o = &a[first];
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if !is(o, "ch") {
            break;
        }
        first += 1;
    }
    if !(a.len() - first).is_multiple_of(3) || (xx && nx) {
        return Err(CmdError::Syntax);
    }
    // ZADD key [options] score member …, every pair checked before anything is added.
    let mut zargv: Vec<Bytes> = Vec::with_capacity(first + (a.len() - first) / 3 * 2);
    zargv.push(Bytes::from_static(b"ZADD"));
    zargv.extend(a[1..first].iter().cloned());
    for t in a[first..].chunks(3) {
        let (lon, lat) = lon_lat(&t[0], &t[1])?;
        zargv.push(Bytes::from(
            geo::score_of(lon, lat).to_string().into_bytes(),
        ));
        zargv.push(t[2].clone());
    }
    let zadd = super::COMMANDS
        .get(b"zadd")
        .and_then(|s| s.handler)
        .ok_or_else(|| CmdError::err("ZADD is not available"))?;
    zadd(x, &zargv)
}

fn geopos(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let z = read(x, &a[1])?;
    let out = a[2..]
        .iter()
        .map(|m| match z.and_then(|z| z.score(m)) {
            None => Reply::NullArray,
            Some(s) => {
                let (lon, lat) = geo::decode_score(s);
                Reply::Array(vec![coord(lon), coord(lat)])
            }
        })
        .collect();
    Ok(Reply::Array(out))
}

fn geodist(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let to_meter = match a.len() {
        5 => unit(&a[4])?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    let Some(z) = read(x, &a[1])? else {
        return Ok(Reply::Null);
    };
    let (Some(s1), Some(s2)) = (z.score(&a[2]), z.score(&a[3])) else {
        return Ok(Reply::Null);
    };
    let (lon1, lat1) = geo::decode_score(s1);
    let (lon2, lat2) = geo::decode_score(s2);
    Ok(dist_reply(geo::distance(lon1, lat1, lon2, lat2) / to_meter))
}

fn geohash(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let z = read(x, &a[1])?;
    let out = a[2..]
        .iter()
        .map(|m| match z.and_then(|z| z.score(m)) {
            None => Reply::Null,
            Some(s) => Reply::bulk(&geo::geohash_string(s)),
        })
        .collect();
    Ok(Reply::Array(out))
}

// ---------------------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------------------

/// Which search command is running (Redis's `RADIUS_*` / `GEOSEARCH*` flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS[_RO]: center and radius are positional.
    Coords,
    /// GEORADIUSBYMEMBER[_RO]: center member and radius are positional.
    Member,
    /// GEOSEARCH.
    Search,
    /// GEOSEARCHSTORE.
    SearchStore,
}

/// One point found by a search.
struct Found {
    member: Box<[u8]>,
    score: f64,
    hit: geo::Hit,
}

/// Collect the members inside `shape`, cell by cell in Redis's order; with `limit` > 0
/// (COUNT … ANY) stop as soon as that many are found.
fn collect(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Found> {
    let cells = shape.cells();
    let mut out: Vec<Found> = Vec::new();
    let mut last = 0usize;
    for (i, c) in cells.iter().enumerate() {
        if c.is_zero() {
            continue;
        }
        // Redis skips a cell equal to the last one scanned, except right after the center.
        if last != 0 && *c == cells[last] {
            continue;
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
        let (min, max) = geo::score_range(*c);
        let lo = z.count_before(|s, _| s < min);
        let hi = z.count_before(|s, _| s < max);
        let mut done = false;
        z.range(lo, hi, false, |m, s| {
            if done {
                return;
            }
            if let Some(hit) = shape.hit(s) {
                out.push(Found {
                    member: m.into(),
                    score: s,
                    hit,
                });
            }
            if limit > 0 && out.len() >= limit {
                done = true;
            }
        });
        last = i;
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

fn georadius(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    search_generic(x, a, 1, Variant::Coords, true)
}

fn georadius_ro(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    search_generic(x, a, 1, Variant::Coords, false)
}

fn georadiusbymember(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    search_generic(x, a, 1, Variant::Member, true)
}

fn georadiusbymember_ro(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    search_generic(x, a, 1, Variant::Member, false)
}

fn geosearch(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    search_generic(x, a, 1, Variant::Search, false)
}

fn geosearchstore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    search_generic(x, a, 2, Variant::SearchStore, true)
}

/// Redis's `georadiusGeneric`: parse in Redis's order (type check, positional center and
/// radius, then options left to right), search, sort, reply or store.
fn search_generic(
    x: &mut Exec<'_>,
    a: &[Bytes],
    src: usize,
    v: Variant,
    can_store: bool,
) -> Result<Reply, CmdError> {
    let name = String::from_utf8_lossy(&a[0]).into_owned();
    // One lookup (stats, lazy expiry, type check), as Redis's `lookupKeyRead`.
    let zobj = read(x, &a[src])?;
    let geosearch = matches!(v, Variant::Search | Variant::SearchStore);
    let mut center: Option<(f64, f64)> = None;
    let mut kind: Option<Kind> = None;
    let mut conversion = 1.0;
    let mut store: Option<Bytes> = None;
    let base = match v {
        Variant::Coords => {
            center = Some(lon_lat(&a[2], &a[3])?);
            let (r, c) = radius_unit(&a[4], &a[5])?;
            kind = Some(Kind::Radius(r));
            conversion = c;
            6
        }
        // No source: the options are still parsed, to pick the reply.
        Variant::Member if zobj.is_none() => 5,
        Variant::Member => {
            let z = zobj.expect("matched Some above");
            center = Some(member_pos(z, &a[2])?);
            let (r, c) = radius_unit(&a[3], &a[4])?;
            kind = Some(Kind::Radius(r));
            conversion = c;
            5
        }
        Variant::Search => 2,
        Variant::SearchStore => {
            store = Some(a[1].clone());
            3
        }
    };

    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut storedist = false;
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let opts = &a[base..];
    let n = opts.len();
    let mut i = 0;
    while i < n {
        let o = &opts[i];
        if is(o, "withdist") {
            withdist = true;
        } else if is(o, "withhash") {
            withhash = true;
        } else if is(o, "withcoord") {
            withcoord = true;
        } else if is(o, "any") {
            any = true;
        } else if is(o, "asc") {
            sort = Sort::Asc;
        } else if is(o, "desc") {
            sort = Sort::Desc;
        } else if is(o, "count") && i + 1 < n {
            count = arg_i64(&opts[i + 1])?;
            if count <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is(o, "store") || is(o, "storedist")) && i + 1 < n && can_store && !geosearch {
            store = Some(opts[i + 1].clone());
            storedist = is(o, "storedist");
            i += 1;
        } else if is(o, "storedist") && v == Variant::SearchStore {
            storedist = true;
        } else if is(o, "frommember") && i + 1 < n && geosearch && !fromloc {
            if let Some(z) = zobj {
                center = Some(member_pos(z, &opts[i + 1])?);
            }
            frommember = true;
            i += 1;
        } else if is(o, "fromlonlat") && i + 2 < n && geosearch && !frommember {
            center = Some(lon_lat(&opts[i + 1], &opts[i + 2])?);
            fromloc = true;
            i += 2;
        } else if is(o, "byradius") && i + 2 < n && geosearch && !bybox {
            let (r, c) = radius_unit(&opts[i + 1], &opts[i + 2])?;
            kind = Some(Kind::Radius(r));
            conversion = c;
            byradius = true;
            i += 2;
        } else if is(o, "bybox") && i + 3 < n && geosearch && !byradius {
            let (w, h, c) = box_unit(&opts[i + 1], &opts[i + 2], &opts[i + 3])?;
            kind = Some(Kind::Box(w, h));
            conversion = c;
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }

    if store.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdError::err(format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if v == Variant::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    if geosearch && !(frommember || fromloc) {
        return Err(CmdError::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if geosearch && !(byradius || bybox) {
        return Err(CmdError::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }

    let Some(z) = zobj else {
        return Ok(match store {
            Some(dest) => {
                if x.db().remove(&dest).is_some() {
                    x.notify('g', "del", &dest);
                    x.touch_dirty(1);
                }
                Reply::Int(0)
            }
            None => Reply::Array(Vec::new()),
        });
    };
    let (Some((lon, lat)), Some(kind)) = (center, kind) else {
        return Err(CmdError::Syntax);
    };
    let shape = Shape {
        lon,
        lat,
        kind,
        conversion,
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let mut found = collect(z, &shape, if any { count } else { 0 });

    if found.is_empty() && store.is_none() {
        return Ok(Reply::Array(Vec::new()));
    }
    let returned = if count == 0 {
        found.len()
    } else {
        count.min(found.len())
    };
    if sort != Sort::None {
        // Redis's comparator: equal distances compare equal (ties keep their scan order
        // under glibc's stable merge-sort qsort; pqsort has its own tie order).
        let desc = sort == Sort::Desc;
        let by_dist = |p: &Found, q: &Found| {
            let o = p
                .hit
                .dist
                .partial_cmp(&q.hit.dist)
                .unwrap_or(Ordering::Less);
            if desc {
                o.reverse()
            } else {
                o
            }
        };
        if returned == found.len() {
            found.sort_by(by_dist);
        } else {
            let last = i64::try_from(returned).unwrap_or(i64::MAX) - 1;
            crate::db::pqsort::pqsort(&mut found, 0, last, &by_dist);
        }
    }
    found.truncate(returned);

    let Some(dest) = store else {
        let out = found
            .into_iter()
            .map(|p| {
                let dist = p.hit.dist / conversion;
                if !(withdist || withhash || withcoord) {
                    return Reply::Bulk(Bytes::from(p.member.into_vec()));
                }
                let mut item = vec![Reply::Bulk(Bytes::from(p.member.into_vec()))];
                if withdist {
                    item.push(dist_reply(dist));
                }
                if withhash {
                    item.push(Reply::Int(score_as_i64(p.score)));
                }
                if withcoord {
                    item.push(Reply::Array(vec![coord(p.hit.lon), coord(p.hit.lat)]));
                }
                Reply::Array(item)
            })
            .collect();
        return Ok(Reply::Array(out));
    };

    let n = found.len();
    if n == 0 {
        if x.db().remove(&dest).is_some() {
            x.notify('g', "del", &dest);
            x.touch_dirty(1);
        }
        return Ok(Reply::Int(0));
    }
    let lim = Limits {
        entries: x.st.config.zset_max_listpack_entries,
        value: x.st.config.zset_max_listpack_value,
    };
    let maxlen = found.iter().map(|p| p.member.len()).max().unwrap_or(0);
    let mut out = ZSet::with_hint(n, maxlen, lim);
    for p in &found {
        let score = if storedist {
            p.hit.dist / conversion
        } else {
            p.score
        };
        out.insert_new(&p.member, score, lim);
    }
    let e = Entry::new(Value::ZSet(Box::new(out)), x.now_ms);
    x.insert_key(&dest, e);
    let event = if is(&a[0], "geosearchstore") {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    x.notify('z', event, &dest);
    x.touch_dirty(n as u64);
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use crate::cmd::string::testkit::*;
    use crate::resp::Reply;

    // Replies below were checked against redis-server 7.0.15 (see tests/scripts/geo.redis).

    fn bulk(s: &str) -> Reply {
        Reply::bulk(s.as_bytes())
    }

    fn coords(lon: &str, lat: &str) -> Reply {
        Reply::Array(vec![
            Reply::DoubleText(lon.into()),
            Reply::DoubleText(lat.into()),
        ])
    }

    #[test]
    fn geoadd_journals_the_zadd_it_runs() {
        let mut t = Kit::new();
        t.logs(
            "geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            int(2),
            &["ZADD Sicily 3479099956230698 Palermo 3479447370796909 Catania"],
        );
        t.logs(
            "geoadd Sicily ch xx 13.361389 38.115556 Palermo 1 1 nope",
            int(0),
            &[],
        );
        t.logs(
            "geoadd Sicily CH 13 38 Palermo",
            int(1),
            &["ZADD Sicily CH 3479065152021743 Palermo"],
        );
        t.logs(
            "geoadd Sicily 1 1 ok 200 100 bad",
            err("ERR invalid longitude,latitude pair 200.000000,100.000000"),
            &[],
        );
        t.logs("geoadd Sicily nx xx 1 1 m", err("ERR syntax error"), &[]);
        t.logs("geoadd k xx 1 1 m", int(0), &[]);
        assert!(t.st.ks.dbs[0].get(b"k").is_none());
        t.check_replay();
    }

    #[test]
    fn reads() {
        let mut t = Kit::new();
        t.q("geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania");
        t.is(
            "geopos Sicily Palermo nope",
            Reply::Array(vec![
                coords("13.36138933897018433", "38.11555639549629859"),
                Reply::NullArray,
            ]),
        );
        t.is("geodist Sicily Palermo Catania km", bulk("166.2742"));
        t.is("geodist Sicily Palermo nope", Reply::Null);
        t.is(
            "geohash Sicily Palermo nope",
            Reply::Array(vec![bulk("sqc8b49rny0"), Reply::Null]),
        );
        t.is(
            "geosearch Sicily fromlonlat 15 37 byradius 200 km asc withdist withhash",
            Reply::Array(vec![
                Reply::Array(vec![
                    bulk("Catania"),
                    bulk("56.4413"),
                    Reply::Int(3479447370796909),
                ]),
                Reply::Array(vec![
                    bulk("Palermo"),
                    bulk("190.4424"),
                    Reply::Int(3479099956230698),
                ]),
            ]),
        );
        t.is(
            "geosearch Sicily fromlonlat 15 37 bybox 400 400 km desc count 1",
            Reply::Array(vec![bulk("Palermo")]),
        );
        t.is(
            "georadius_ro Sicily 15 37 200 km store d",
            err("ERR syntax error"),
        );
        t.q("set s x");
        t.is(
            "geopos s a",
            err(crate::cmd::CmdError::WrongType.to_string().as_str()),
        );
    }

    #[test]
    fn stores_replay_to_the_same_keyspace() {
        let mut t = Kit::new();
        t.q("geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania");
        t.logs(
            "georadius Sicily 15 37 200 km storedist d",
            int(2),
            &["georadius Sicily 15 37 200 km storedist d"],
        );
        t.logs(
            "geosearchstore e Sicily frommember Palermo byradius 10 km",
            int(1),
            &["geosearchstore e Sicily frommember Palermo byradius 10 km"],
        );
        t.logs("georadius Sicily 15 37 200 km", int_list(), &[]);
        t.logs(
            "geosearchstore e Sicily fromlonlat 0 0 byradius 1 km",
            int(0),
            &["geosearchstore e Sicily fromlonlat 0 0 byradius 1 km"],
        );
        assert!(t.st.ks.dbs[0].get(b"e").is_none());
        t.logs(
            "geosearchstore e nokey fromlonlat 0 0 byradius 1 km",
            int(0),
            &[],
        );
        t.check_replay();
    }

    fn int_list() -> Reply {
        Reply::Array(vec![bulk("Palermo"), bulk("Catania")])
    }
}

//! Geospatial math behind the GEO* commands, bit-compatible with Redis 7.0: a point is a
//! sorted-set score holding a 52-bit interleaved geohash (26 steps of longitude in the odd
//! bits, latitude in the even bits, latitude limited to ±85.05112878 as in Web Mercator);
//! decoding gives the cell's center, clamped to the limits. Searches cover the query
//! shape with a center cell plus its 8 neighbors at a step estimated from the radius,
//! then filter candidates with the haversine distance (Earth radius 6372797.560856 m).
//! Every floating-point operation happens in the order Redis's C code does it, so the
//! same libm gives bit-identical coordinates and distances. Also the reply formatting
//! Redis uses (`%.17Lf` trimmed for coordinates, `%.4f` for distances) and the standard
//! base32 geohash string. Pure: no RESP, no I/O.

/// Smallest longitude accepted.
pub const LON_MIN: f64 = -180.0;
/// Largest longitude accepted.
pub const LON_MAX: f64 = 180.0;
/// Smallest latitude accepted (Web Mercator limit).
pub const LAT_MIN: f64 = -85.051_128_78;
/// Largest latitude accepted (Web Mercator limit).
pub const LAT_MAX: f64 = 85.051_128_78;
/// Steps (bits per coordinate) of a stored score.
pub const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius for WGS-84, in meters.
pub const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(d: f64) -> f64 {
    d * D_R
}

fn rad_deg(r: f64) -> f64 {
    r / D_R
}

/// A closed coordinate interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
}

/// The longitude and latitude ranges scores are encoded in.
pub const WGS84_LON: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
/// The latitude range scores are encoded in.
pub const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A geohash cell: `step` bits per coordinate, interleaved in `bits`. The all-zero value
/// (bits 0, step 0) means "no cell" (a neighbor excluded from a search).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cell {
    /// Interleaved bits (longitude odd, latitude even).
    pub bits: u64,
    /// Bits per coordinate.
    pub step: u8,
}

impl Cell {
    /// True for the "no cell" marker.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A cell's bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    /// Longitude bounds.
    pub lon: Range,
    /// Latitude bounds.
    pub lat: Range,
}

/// Spread the 32 bits of `v` over the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gather the even bits of `v` into a u32.
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    u32::try_from(x).unwrap_or(u32::MAX)
}

/// Interleave: latitude bits in the even positions, longitude bits in the odd ones.
pub fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// Inverse of [`interleave`]: (latitude bits, longitude bits).
pub fn deinterleave(v: u64) -> (u32, u32) {
    (squash(v), squash(v >> 1))
}

/// C's `(uint32_t)` of a non-negative double below 2^32 (truncation).
fn to_u32(v: f64) -> u32 {
    // Callers pass values in [0, 2^step], step <= 26.
    v as u32
}

/// Encode a point at `step` bits per coordinate in the given ranges. None when the point
/// is outside the WGS84 limits or the ranges (as Redis's `geohashEncode` refuses).
pub fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Cell> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(Cell {
        bits: interleave(to_u32(lat_off), to_u32(lon_off)),
        step,
    })
}

/// The score GEOADD stores for a point already checked against the limits.
pub fn score_of(lon: f64, lat: f64) -> u64 {
    encode(WGS84_LON, WGS84_LAT, lon, lat, STEP_MAX).map_or(0, align52)
}

/// A cell's bits shifted to the 52-bit score scale.
pub fn align52(c: Cell) -> u64 {
    c.bits << (52 - u32::from(c.step) * 2)
}

/// The score range `[min, max)` holding every point inside cell `c`.
pub fn score_range(c: Cell) -> (f64, f64) {
    let min = align52(c);
    let max = align52(Cell {
        bits: c.bits.wrapping_add(1),
        step: c.step,
    });
    (min as f64, max as f64)
}

/// The bounds of cell `c` in the given ranges (no validity check on the bits, as Redis).
pub fn decode(lon_r: Range, lat_r: Range, c: Cell) -> Area {
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    let (ilat, ilon) = deinterleave(c.bits);
    let div = (1u64 << c.step) as f64;
    Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilat) / div) * lat_scale,
            max: lat_r.min + (f64::from(ilat.wrapping_add(1)) / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (f64::from(ilon) / div) * lon_scale,
            max: lon_r.min + (f64::from(ilon.wrapping_add(1)) / div) * lon_scale,
        },
    }
}

/// The center of an area, clamped to the WGS84 limits: (longitude, latitude).
pub fn center(a: &Area) -> (f64, f64) {
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// C's `(uint64_t)` of a double as gcc compiles it on x86-64 (cvttsd2si, with the 2^63
/// split; out-of-range values give the "integer indefinite" 0x8000000000000000).
pub fn score_bits(score: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    fn cvtt(v: f64) -> u64 {
        if v.is_nan() || !(-TWO63..TWO63).contains(&v) {
            0x8000_0000_0000_0000
        } else {
            (v as i64) as u64
        }
    }
    if score < TWO63 {
        cvtt(score)
    } else {
        cvtt(score - TWO63) ^ 0x8000_0000_0000_0000
    }
}

/// The point a score stands for (the center of its step-26 cell): (longitude, latitude).
pub fn decode_score(score: f64) -> (f64, f64) {
    let c = Cell {
        bits: score_bits(score),
        step: STEP_MAX,
    };
    center(&decode(WGS84_LON, WGS84_LAT, c))
}

/// The 11-character standard geohash of a score: the decoded point re-encoded with the
/// standard latitude range [-90, 90]; the 11th character stands for zero bits.
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let std_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(WGS84_LON, std_lat, lon, lat, STEP_MAX).map_or(0, |c| c.bits);
    let mut out = [b'0'; 11];
    for (i, ch) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *ch = ALPHABET[usize::try_from(idx).unwrap_or(0)];
    }
    out
}

/// Great-circle distance in meters (haversine), Redis 7.0's formula.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lat1r = deg_rad(lat1);
    let lon1r = deg_rad(lon1);
    let lat2r = deg_rad(lat2);
    let lon2r = deg_rad(lon2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_M * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

fn move_x(c: &mut Cell, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(c.step) * 2;
    let mut x = c.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = c.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    c.bits = x | y;
}

fn move_y(c: &mut Cell, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(c.step) * 2;
    let x = c.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = c.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    c.bits = x | y;
}

/// The cell moved by (dx, dy) cells (east/north positive), wrapping at the edges.
fn shifted(c: Cell, dx: i8, dy: i8) -> Cell {
    let mut n = c;
    move_x(&mut n, dx);
    move_y(&mut n, dy);
    n
}

/// Neighbors in Redis's search order: north, south, east, west, NE, NW, SE, SW.
pub fn neighbors(c: Cell) -> [Cell; 8] {
    [
        shifted(c, 0, 1),
        shifted(c, 0, -1),
        shifted(c, 1, 0),
        shifted(c, -1, 0),
        shifted(c, 1, 1),
        shifted(c, -1, 1),
        shifted(c, 1, -1),
        shifted(c, -1, -1),
    ]
}

/// The step (bits per coordinate) of the 9 search cells for a radius at a latitude.
pub fn estimate_step(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut r = range_m;
    let mut step: i32 = 1;
    while r < MERCATOR_MAX {
        r *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    u8::try_from(step.clamp(1, 26)).unwrap_or(26)
}

/// The area a search covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A circle of this radius (in the query's unit).
    Radius(f64),
    /// An axis-aligned box of this width and height (in the query's unit).
    Box(f64, f64),
}

/// A search: center, area and unit (meters per unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Center longitude.
    pub lon: f64,
    /// Center latitude.
    pub lat: f64,
    /// Circle or box.
    pub kind: Kind,
    /// Meters per unit (m 1, km 1000, ft 0.3048, mi 1609.34).
    pub conversion: f64,
}

/// A point inside a search shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Decoded longitude.
    pub lon: f64,
    /// Decoded latitude.
    pub lat: f64,
    /// Distance from the center, in meters.
    pub dist: f64,
}

impl Shape {
    /// The bounding box: [min lon, min lat, max lon, max lat].
    pub fn bounds(&self) -> [f64; 4] {
        let (h, w) = match self.kind {
            Kind::Radius(r) => (self.conversion * r, self.conversion * r),
            Kind::Box(w, h) => (self.conversion * (h / 2.0), self.conversion * (w / 2.0)),
        };
        let lat_delta = rad_deg(h / EARTH_RADIUS_M);
        let top = rad_deg(w / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let bottom = rad_deg(w / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let d = if self.lat < 0.0 { bottom } else { top };
        [
            self.lon - d,
            self.lat - lat_delta,
            self.lon + d,
            self.lat + lat_delta,
        ]
    }

    /// The 9 cells to scan, in Redis's order (center, N, S, E, W, NE, NW, SE, SW); excluded
    /// neighbors are [`Cell::is_zero`].
    pub fn cells(&self) -> [Cell; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius_m = match self.kind {
            Kind::Radius(r) => r,
            Kind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.conversion;
        let mut step = estimate_step(radius_m, self.lat);
        let at = |step: u8| {
            let c = encode(WGS84_LON, WGS84_LAT, self.lon, self.lat, step)
                .unwrap_or(Cell { bits: 0, step });
            (c, neighbors(c), decode(WGS84_LON, WGS84_LAT, c))
        };
        let (mut hash, mut nb, mut area) = at(step);
        let dec = |c: Cell| decode(WGS84_LON, WGS84_LAT, c);
        let decrease = dec(nb[0]).lat.max < max_lat
            || dec(nb[1]).lat.min > min_lat
            || dec(nb[2]).lon.max < max_lon
            || dec(nb[3]).lon.min > min_lon;
        if step > 1 && decrease {
            step -= 1;
            (hash, nb, area) = at(step);
        }
        // Indexes into `nb`: N 0, S 1, E 2, W 3, NE 4, NW 5, SE 6, SW 7.
        if step >= 2 {
            let mut zero = |ix: [usize; 3]| ix.iter().for_each(|&i| nb[i] = Cell::default());
            if area.lat.min < min_lat {
                zero([1, 7, 6]);
            }
            if area.lat.max > max_lat {
                zero([0, 4, 5]);
            }
            if area.lon.min < min_lon {
                zero([3, 7, 5]);
            }
            if area.lon.max > max_lon {
                zero([2, 6, 4]);
            }
        }
        [hash, nb[0], nb[1], nb[2], nb[3], nb[4], nb[5], nb[6], nb[7]]
    }

    /// The decoded point of `score` and its distance from the center if it lies inside.
    pub fn hit(&self, score: f64) -> Option<Hit> {
        let (lon, lat) = decode_score(score);
        match self.kind {
            Kind::Radius(r) => {
                let dist = distance(self.lon, self.lat, lon, lat);
                (dist <= r * self.conversion).then_some(Hit { lon, lat, dist })
            }
            Kind::Box(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                let lon_d = distance(lon, lat, self.lon, lat);
                let lat_d = distance(lon, lat, lon, self.lat);
                if lon_d > w / 2.0 || lat_d > h / 2.0 {
                    return None;
                }
                let dist = distance(self.lon, self.lat, lon, lat);
                Some(Hit { lon, lat, dist })
            }
        }
    }
}

/// A coordinate as Redis prints it (`%.17Lf`, trailing zeros and point removed).
pub fn format_coord(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// A distance as Redis prints it (`%.4f`).
pub fn format_dist(v: f64) -> String {
    format!("{v:.4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values captured from redis-server 7.0.15.

    #[test]
    fn sicily_scores_positions_hashes() {
        let p = score_of(13.361389, 38.115556);
        let c = score_of(15.087269, 37.502669);
        assert_eq!(p, 3_479_099_956_230_698);
        assert_eq!(c, 3_479_447_370_796_909);
        let (lon, lat) = decode_score(p as f64);
        assert_eq!(format_coord(lon), "13.36138933897018433");
        assert_eq!(format_coord(lat), "38.11555639549629859");
        let (lon2, lat2) = decode_score(c as f64);
        assert_eq!(format_coord(lon2), "15.08726745843887329");
        assert_eq!(format_coord(lat2), "37.50266842333162032");
        assert_eq!(format_dist(distance(lon, lat, lon2, lat2)), "166274.1516");
        assert_eq!(
            format_dist(distance(lon, lat, lon2, lat2) / 1000.0),
            "166.2742"
        );
        assert_eq!(&geohash_string(p as f64), b"sqc8b49rny0");
        assert_eq!(&geohash_string(c as f64), b"sqdtr74hyu0");
    }

    #[test]
    fn limits_and_odd_scores() {
        // The top-right corner encodes one past the last cell in each coordinate.
        assert_eq!(score_of(180.0, LAT_MAX), 13_510_798_882_111_488);
        let (lon, lat) = decode_score(13_510_798_882_111_488.0);
        assert_eq!(format_coord(lon), "180");
        assert_eq!(format_coord(lat), "85.0511287799999991");
        assert_eq!(score_of(-180.0, LAT_MIN), 0);
        let (lon, lat) = decode_score(0.0);
        assert_eq!(format_coord(lon), "-179.99999731779098511");
        assert_eq!(format_coord(lat), "-85.05112751263942528");
        assert_eq!(&geohash_string(0.0), b"00bh0hbj200");
        assert_eq!(&geohash_string(13_510_798_882_111_488.0), b"bp05b5048p0");
        // Scores no GEOADD makes still decode, as C's (uint64_t) cast does.
        assert_eq!(decode_score(-1.0), (180.0, LAT_MAX));
        assert_eq!(decode_score(1e30), decode_score(0.0));
    }

    #[test]
    fn interleave_round_trips() {
        for (a, b) in [
            (0u32, 0u32),
            (1, 2),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(a, b)), (a, b));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn neighbors_move_one_cell() {
        let c = encode(WGS84_LON, WGS84_LAT, 13.36, 38.11, 10).unwrap();
        let (la, lo) = deinterleave(c.bits);
        let nb = neighbors(c);
        assert_eq!(deinterleave(nb[0].bits), (la + 1, lo));
        assert_eq!(deinterleave(nb[1].bits), (la - 1, lo));
        assert_eq!(deinterleave(nb[2].bits), (la, lo + 1));
        assert_eq!(deinterleave(nb[3].bits), (la, lo - 1));
        assert_eq!(deinterleave(nb[7].bits), (la - 1, lo - 1));
        // Wraps around at the edges.
        let w = encode(WGS84_LON, WGS84_LAT, -180.0, 0.0, 4).unwrap();
        assert_eq!(deinterleave(neighbors(w)[3].bits).1, 15);
    }

    #[test]
    fn step_estimate() {
        assert_eq!(estimate_step(0.0, 0.0), 26);
        assert_eq!(estimate_step(200_000.0, 38.0), 6);
        assert_eq!(estimate_step(200_000.0, 70.0), 5);
        assert_eq!(estimate_step(200_000.0, 85.0), 4);
        assert_eq!(estimate_step(1e9, 0.0), 1);
        assert_eq!(estimate_step(0.001, 0.0), 26);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_coord(-0.0), "0");
        assert_eq!(format_coord(1.5), "1.5");
        assert_eq!(format_coord(2.0), "2");
        assert_eq!(format_dist(0.0), "0.0000");
        assert_eq!(format_dist(0.03125), "0.0312");
    }
}

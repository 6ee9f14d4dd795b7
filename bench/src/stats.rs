//! Medians, units and the markdown table.

use std::time::Duration;

/// The median of the samples (mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The p-th percentile (0..=100), nearest rank.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What a row measures, for formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ms,
    KiB,
}

pub fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Unit::Ms if v >= 100.0 => format!("{v:.0} ms"),
        Unit::Ms if v >= 10.0 => format!("{v:.1} ms"),
        Unit::Ms => format!("{v:.2} ms"),
        Unit::KiB if v >= 10.0 * 1024.0 => format!("{:.0} MiB", v / 1024.0),
        Unit::KiB if v >= 1024.0 => format!("{:.1} MiB", v / 1024.0),
        Unit::KiB => format!("{v:.0} KiB"),
    }
}

pub fn format_ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// One line of the results table: a value per runtime, in the order
/// mini-containerd, runc, crun.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub unit: Unit,
    pub values: [Option<f64>; 3],
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| measurement | mini-containerd | runc | crun | mini/runc | mini/crun |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let cell = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format_value(v, r.unit));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.what,
            cell(r.values[0]),
            cell(r.values[1]),
            cell(r.values[2]),
            format_ratio(r.values[0], r.values[1]),
            format_ratio(r.values[0], r.values[2]),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(
            percentile(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90.0),
            Some(9.0)
        );
        assert_eq!(percentile(&[5.0], 10.0), Some(5.0));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_value(1.234, Unit::Ms), "1.23 ms");
        assert_eq!(format_value(12.34, Unit::Ms), "12.3 ms");
        assert_eq!(format_value(1234.0, Unit::Ms), "1.23 s");
        assert_eq!(format_value(4264.0, Unit::KiB), "4.2 MiB");
        assert_eq!(format_ratio(Some(1.0), Some(4.0)), "0.25×");
        assert_eq!(format_ratio(Some(1.0), None), "–");
        let t = table(&[Row {
            what: "x".into(),
            unit: Unit::Ms,
            values: [Some(1.0), Some(2.0), None],
        }]);
        assert!(t.contains("| x | 1.00 ms | 2.00 ms | – | 0.50× | – |"), "{t}");
    }
}

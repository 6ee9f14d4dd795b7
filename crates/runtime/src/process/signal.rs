//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`, `9`,
//! case-insensitive, plus the real-time range `RTMIN+N` / `RTMAX-N`.

use nix::sys::signal::Signal;

/// Parse a signal as runc does: a number, or a name with or without `SIG`.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    let bad = || format!("unknown signal {s:?}");
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt_offset(rest, libc::SIGRTMIN(), 1).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt_offset(rest, libc::SIGRTMAX(), -1).ok_or_else(bad);
    }
    let full = format!("SIG{name}");
    full.parse::<Signal>().map(|sig| sig as i32).map_err(|_| bad())
}

fn rt_offset(rest: &str, base: i32, dir: i32) -> Option<i32> {
    let n = if rest.is_empty() {
        0
    } else {
        let digits = rest.strip_prefix(if dir > 0 { '+' } else { '-' })?;
        digits.parse::<i32>().ok()?
    };
    let sig = base + dir * n;
    (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig).then_some(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("KILL"), Ok(9));
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("sigterm"), Ok(15));
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("HUP"), Ok(1));
        assert_eq!(parse_signal("RTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert_eq!(parse_signal("SIGRTMAX"), Ok(libc::SIGRTMAX()));
        for bad in ["", "NOPE", "0", "-1", "65", "RTMIN+99", "SIG"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}

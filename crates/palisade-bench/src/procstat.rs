//! CPU time and peak memory of processes, read from `/proc` (Linux only),
//! and the file-descriptor limit.

use std::io;

/// Returns the CPU time (user plus system) that process `pid` has used so
/// far, in seconds, from fields 14 and 15 of `/proc/<pid>/stat`. `pid` 0
/// means this process.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let path = if pid == 0 {
        "/proc/self/stat".to_owned()
    } else {
        format!("/proc/{pid}/stat")
    };
    let text = std::fs::read_to_string(&path)?;
    parse_cpu_ticks(&text)
        .map(|ticks| ticks as f64 / clock_ticks_per_second())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: no CPU fields")))
}

/// Returns utime + stime in clock ticks from the text of `/proc/<pid>/stat`.
/// The command name (field 2) may contain spaces and parentheses, so the
/// fields are counted from the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state (3), ppid (4), ..., utime is field 14, stime 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

/// Returns the peak resident set size (`VmHWM`) of process `pid` in KiB.
/// `pid` 0 means this process.
pub fn peak_rss_kib(pid: u32) -> io::Result<u64> {
    let path = if pid == 0 {
        "/proc/self/status".to_owned()
    } else {
        format!("/proc/{pid}/status")
    };
    let text = std::fs::read_to_string(&path)?;
    parse_status_kib(&text, "VmHWM:")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: no VmHWM")))
}

/// Returns the value in KiB of the `key` line of `/proc/<pid>/status`.
pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

/// Resets this process's peak RSS to its current RSS (Linux 4.0 and
/// later), so that the next [`peak_rss_kib`] covers only what follows.
pub fn reset_own_peak_rss() -> io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// Raises the soft limit of open files to the hard limit and returns the
/// new soft limit.
pub fn raise_open_files_limit() -> io::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit).map_err(io::Error::from)?;
    }
    Ok(limit.current.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_name_with_spaces() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 10";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn stat_truncated() {
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2 3"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn status_peak_rss() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    4321 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(4321));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn own_process_readable() {
        assert!(cpu_seconds(0).expect("own stat") >= 0.0);
        assert!(peak_rss_kib(0).expect("own status") > 0);
    }
}

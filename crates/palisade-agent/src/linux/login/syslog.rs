//! sshd and PAM lines from text auth logs, in the syslog header formats
//! that rsyslog, syslog-ng and BusyBox syslogd write.

use std::net::IpAddr;
use std::prelude::rust_2024::*;

use palisade_schema::{LoginAction, LoginMethod};

/// The header of one syslog line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogLine<'a> {
    /// The time, in milliseconds since the Unix epoch; RFC 3164 lines have
    /// no year, so it comes from the caller.
    pub time_unix_ms: Option<u64>,
    /// Host name, when the line has one.
    pub host: Option<&'a str>,
    /// Program name (the tag without `[pid]`).
    pub program: &'a str,
    /// Process id from the tag.
    pub pid: Option<u32>,
    /// The message after `: `.
    pub message: &'a str,
}

/// Reasons a log line is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyslogError {
    /// The line starts with neither `Mmm dd hh:mm:ss` nor an ISO 8601 time.
    #[error("line does not start with an RFC 3164 or ISO 8601 timestamp")]
    BadTimestamp,
    /// No `program[pid]:` tag after the timestamp and host.
    #[error("line has no `program[pid]:` tag")]
    MissingTag,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days from 1970-01-01 to the given proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Returns the year of a Unix time in milliseconds.
pub(crate) fn year_of(unix_ms: u64) -> i64 {
    let days = i64::try_from(unix_ms / 86_400_000).unwrap_or(0);
    // 146 097 days per 400 years; the estimate is off by at most one year.
    let mut year = 1970 + days * 400 / 146_097;
    while days_from_civil(year, 1, 1) > days {
        year -= 1;
    }
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    year
}

fn unix_ms(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
) -> Option<u64> {
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    u64::try_from(seconds)
        .ok()?
        .checked_mul(1000)?
        .checked_add(u64::from(millis))
}

fn two_digits(text: &str) -> Option<u32> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn parse_clock(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split(':');
    let hour = two_digits(parts.next()?)?;
    let minute = two_digits(parts.next()?)?;
    let second = two_digits(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((hour, minute, second))
}

/// Parses `Mmm dd hh:mm:ss ` and returns the time and the rest.
fn rfc3164_time(line: &str, year: i64) -> Option<(Option<u64>, &str)> {
    let month = MONTHS.iter().position(|m| line.get(..3) == Some(*m))? as u32 + 1;
    let rest = line.get(3..)?.strip_prefix(' ')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (day, rest) = rest.split_once(' ')?;
    if day.is_empty() || day.len() > 2 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: u32 = day.parse().ok()?;
    let (clock, rest) = rest.split_once(' ')?;
    let (hour, minute, second) = parse_clock(clock)?;
    Some((unix_ms(year, month, day, hour, minute, second, 0), rest))
}

/// Parses `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm) ` and returns the time and the rest.
fn iso8601_time(line: &str) -> Option<(Option<u64>, &str)> {
    let (stamp, rest) = line.split_once(' ')?;
    let (date, time) = stamp.split_once('T')?;
    let mut date_parts = date.split('-');
    let year = date_parts
        .next()
        .filter(|y| y.len() == 4)?
        .parse::<i64>()
        .ok()?;
    let month = two_digits(date_parts.next()?)?;
    let day = two_digits(date_parts.next()?)?;
    if date_parts.next().is_some() || time.len() < 8 {
        return None;
    }
    let (hour, minute, second) = parse_clock(time.get(..8)?)?;
    let mut tail = time.get(8..)?;
    let mut millis = 0;
    if let Some(fraction) = tail.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first_three: String = fraction[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = first_three.parse().ok()?;
        tail = &fraction[digits..];
    }
    let offset_minutes: i64 = match tail {
        "Z" | "" => 0,
        _ => {
            let sign = match tail.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = tail.get(1..)?.split_once(':')?;
            sign * (i64::from(two_digits(h)?) * 60 + i64::from(two_digits(m)?))
        }
    };
    let local = unix_ms(year, month, day, hour, minute, second, millis)?;
    let utc = i64::try_from(local).ok()? - offset_minutes * 60_000;
    Some((u64::try_from(utc).ok(), rest))
}

/// Splits `program[pid]:` into program and pid.
fn parse_tag(token: &str) -> Option<(&str, Option<u32>)> {
    let tag = token.strip_suffix(':')?;
    if tag.is_empty() {
        return None;
    }
    match tag.split_once('[') {
        Some((program, pid)) => Some((program, Some(pid.strip_suffix(']')?.parse().ok()?))),
        None => Some((tag, None)),
    }
}

fn is_facility_priority(token: &str) -> bool {
    token.split_once('.').is_some_and(|(facility, level)| {
        !facility.is_empty()
            && !level.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.')
    })
}

/// Parses the header of one syslog line.
///
/// Accepts `Mmm dd hh:mm:ss host prog[pid]: msg` (RFC 3164, with `year`
/// for the missing year), `2024-05-01T10:00:00.123456+00:00 host
/// prog[pid]: msg` (rsyslog's high-precision format), BusyBox syslogd's
/// `Mmm dd hh:mm:ss host facility.level prog[pid]: msg`, and each of them
/// without the host.
pub fn parse_syslog_line(line: &str, year: i64) -> Result<SyslogLine<'_>, SyslogError> {
    let (time_unix_ms, rest) = rfc3164_time(line, year)
        .or_else(|| iso8601_time(line))
        .ok_or(SyslogError::BadTimestamp)?;
    let mut host = None;
    let mut rest = rest.trim_start();
    for _ in 0..3 {
        let (token, after) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Some((program, pid)) = parse_tag(token) {
            return Ok(SyslogLine {
                time_unix_ms,
                host,
                program,
                pid,
                message: after.trim_start(),
            });
        }
        if host.is_none() && !is_facility_priority(token) {
            host = Some(token);
        } else if !is_facility_priority(token) {
            break;
        }
        rest = after;
    }
    Err(SyslogError::MissingTag)
}

/// A login fact read from an auth log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMessage {
    /// What happened.
    pub action: LoginAction,
    /// The user name as given.
    pub user: String,
    /// Authentication method.
    pub method: LoginMethod,
    /// The service (`ssh`, or the PAM service name).
    pub service: String,
    /// Remote address, when the message names one.
    pub source: Option<IpAddr>,
}

fn ssh_method(name: &str) -> LoginMethod {
    match name {
        "password" | "keyboard-interactive/pam" | "keyboard-interactive" => LoginMethod::Password,
        "publickey" | "hostbased" => LoginMethod::PublicKey,
        _ => LoginMethod::Other,
    }
}

/// Splits `USER from ADDR port N ...` at the last ` from `, because an
/// invalid user name may contain spaces.
fn user_and_source(text: &str) -> Option<(&str, Option<IpAddr>)> {
    let (user, after) = text.rsplit_once(" from ")?;
    let address = after
        .split(' ')
        .next()
        .and_then(|a| a.parse::<IpAddr>().ok())
        .map(|a| a.to_canonical());
    Some((user, address))
}

/// PAM services whose sessions are not user logins.
const NON_LOGIN_SERVICES: [&str; 2] = ["cron", "systemd-user"];

/// Reads a login fact from the message of `program`.
///
/// From sshd (and `sshd-session`, OpenSSH 9.8 and later): `Accepted METHOD
/// for USER from ADDR`, `Failed METHOD for [invalid user] USER from ADDR`,
/// `Invalid user USER from ADDR`. From PAM: `pam_unix(SERVICE:session):
/// session opened|closed for user USER` and `pam_unix(SERVICE:auth):
/// authentication failure; ... user=USER`. sshd's PAM `session opened` and
/// `authentication failure` lines are skipped because the sshd lines above
/// already report the same login (its `session closed` is the logout), and
/// so are cron's and systemd's sessions. Returns `None` for any other
/// message.
pub fn parse_auth_message(program: &str, message: &str) -> Option<AuthMessage> {
    if matches!(program, "sshd" | "sshd-session") {
        if let Some(rest) = message.strip_prefix("Accepted ") {
            let (method, rest) = rest.split_once(" for ")?;
            let (user, source) = user_and_source(rest)?;
            return Some(ssh(LoginAction::Login, user, ssh_method(method), source));
        }
        if let Some(rest) = message.strip_prefix("Failed ") {
            let (method, rest) = rest.split_once(" for ")?;
            let (action, rest) = match rest.strip_prefix("invalid user ") {
                Some(rest) => (LoginAction::InvalidUser, rest),
                None => (LoginAction::Failed, rest),
            };
            let (user, source) = user_and_source(rest)?;
            return Some(ssh(action, user, ssh_method(method), source));
        }
        if let Some(rest) = message.strip_prefix("Invalid user ") {
            let (user, source) = user_and_source(rest)?;
            return Some(ssh(
                LoginAction::InvalidUser,
                user,
                LoginMethod::Unknown,
                source,
            ));
        }
    }
    let rest = message.strip_prefix("pam_unix(")?;
    let (service, rest) = rest.split_once(':')?;
    let (stage, text) = rest.split_once("): ")?;
    if NON_LOGIN_SERVICES.contains(&service) {
        return None;
    }
    let method = if service == "login" {
        LoginMethod::Local
    } else {
        LoginMethod::Unknown
    };
    match stage {
        "session" => {
            let (action, rest) = if let Some(rest) = text.strip_prefix("session opened for user ") {
                if service == "sshd" {
                    return None;
                }
                (LoginAction::Login, rest)
            } else {
                (
                    LoginAction::Logout,
                    text.strip_prefix("session closed for user ")?,
                )
            };
            // `alice(uid=1000) by (uid=0)` (Debian 12) or `alice by (uid=0)`.
            let end = rest.find(['(', ' ']).unwrap_or(rest.len());
            let user = &rest[..end];
            (!user.is_empty()).then(|| AuthMessage {
                action,
                user: user.to_string(),
                method,
                service: service.to_string(),
                source: None,
            })
        }
        "auth" if service != "sshd" => {
            let details = text.strip_prefix("authentication failure;")?;
            let field = |name: &str| {
                details
                    .split_ascii_whitespace()
                    .find_map(|pair| pair.strip_prefix(name))
                    .filter(|v| !v.is_empty())
            };
            let user = field("user=")?;
            let source = field("rhost=").and_then(|host| host.parse::<IpAddr>().ok());
            Some(AuthMessage {
                action: LoginAction::Failed,
                user: user.to_string(),
                method: LoginMethod::Password,
                service: service.to_string(),
                source,
            })
        }
        _ => None,
    }
}

fn ssh(
    action: LoginAction,
    user: &str,
    method: LoginMethod,
    source: Option<IpAddr>,
) -> AuthMessage {
    AuthMessage {
        action,
        user: user.to_string(),
        method,
        service: "ssh".to_string(),
        source,
    }
}

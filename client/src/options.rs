//! Small option types shared by every binary's flags: contact points, consistency levels and
//! durations, each parsed with an error message that says what is expected.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use scylla::statement::Consistency;
use serde::{Serialize, Serializer};

/// One contact point: a host name or address, with an optional port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactPoint {
    /// Host name, IPv4 address, or IPv6 address without brackets.
    pub host: String,
    /// Port, when given.
    pub port: Option<u16>,
}

impl ContactPoint {
    /// 127.0.0.1, where a default local ring answers.
    pub fn localhost() -> ContactPoint {
        ContactPoint {
            host: "127.0.0.1".to_owned(),
            port: None,
        }
    }

    /// `host:port` for the driver, with `default_port` when none was given.
    pub fn with_default_port(&self, default_port: u16) -> String {
        let port = self.port.unwrap_or(default_port);
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

impl FromStr for ContactPoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let bad_port =
            |port: &str| format!("'{text}': the port '{port}' is not a number from 1 to 65535");
        let parse_port = |port: &str| {
            port.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad_port(port))
        };
        if text.is_empty() {
            return Err("empty contact point: expected HOST or HOST:PORT".to_owned());
        }
        if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("'{text}': missing ']' after an IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(parse_port(port)?),
                None if after.is_empty() => None,
                None => return Err(format!("'{text}': expected [ADDRESS]:PORT")),
            };
            return Ok(ContactPoint {
                host: host.to_owned(),
                port,
            });
        }
        match text.matches(':').count() {
            0 => Ok(ContactPoint {
                host: text.to_owned(),
                port: None,
            }),
            1 => {
                let (host, port) = text.split_once(':').unwrap_or((text, ""));
                if host.is_empty() {
                    return Err(format!("'{text}': the host is missing"));
                }
                Ok(ContactPoint {
                    host: host.to_owned(),
                    port: Some(parse_port(port)?),
                })
            }
            // Several colons and no brackets: a bare IPv6 address.
            _ => Ok(ContactPoint {
                host: text.to_owned(),
                port: None,
            }),
        }
    }
}

/// A consistency level, written the way CQL and cqlsh write it (`LOCAL_QUORUM`); any case, with or
/// without underscores, is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistencyLevel(pub Consistency);

const LEVELS: [(&str, Consistency); 11] = [
    ("ANY", Consistency::Any),
    ("ONE", Consistency::One),
    ("TWO", Consistency::Two),
    ("THREE", Consistency::Three),
    ("QUORUM", Consistency::Quorum),
    ("ALL", Consistency::All),
    ("LOCAL_QUORUM", Consistency::LocalQuorum),
    ("EACH_QUORUM", Consistency::EachQuorum),
    ("LOCAL_ONE", Consistency::LocalOne),
    ("SERIAL", Consistency::Serial),
    ("LOCAL_SERIAL", Consistency::LocalSerial),
];

impl FromStr for ConsistencyLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().replace(['_', '-'], "").to_ascii_uppercase();
        LEVELS
            .iter()
            .find(|(name, _)| name.replace('_', "") == wanted)
            .map(|(_, level)| ConsistencyLevel(*level))
            .ok_or_else(|| {
                let names: Vec<&str> = LEVELS.iter().map(|(name, _)| *name).collect();
                format!(
                    "unknown consistency level '{text}'; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for ConsistencyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = LEVELS
            .iter()
            .find(|(_, level)| *level == self.0)
            .map_or("UNKNOWN", |(name, _)| *name);
        f.write_str(name)
    }
}

impl Serialize for ConsistencyLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h30m`: a duration with its unit, as in `--duration 60s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!("'{text}' is not a duration; expected a number with a unit, such as 500ms, 10s, 2m")
    })
}

/// Writes a duration the way it is typed on the command line (`10s`), for reports.
pub fn serialize_duration<S: Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_duration(*duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_points_parse_with_and_without_ports() {
        let plain: ContactPoint = "cassandra".parse().unwrap();
        assert_eq!(plain.with_default_port(9042), "cassandra:9042");
        let with_port: ContactPoint = "127.0.0.2:19042".parse().unwrap();
        assert_eq!(with_port.with_default_port(9042), "127.0.0.2:19042");
        let v6: ContactPoint = "[::1]:9043".parse().unwrap();
        assert_eq!(v6.with_default_port(9042), "[::1]:9043");
        let bare_v6: ContactPoint = "::1".parse().unwrap();
        assert_eq!(bare_v6.with_default_port(9042), "[::1]:9042");
    }

    #[test]
    fn bad_contact_points_say_why() {
        assert!("".parse::<ContactPoint>().unwrap_err().contains("empty"));
        assert!(
            "host:99999"
                .parse::<ContactPoint>()
                .unwrap_err()
                .contains("99999")
        );
        assert!("host:0".parse::<ContactPoint>().is_err());
        assert!(
            ":9042"
                .parse::<ContactPoint>()
                .unwrap_err()
                .contains("host is missing")
        );
        assert!("[::1".parse::<ContactPoint>().is_err());
    }

    #[test]
    fn consistency_levels_parse_in_any_spelling() {
        for text in [
            "LOCAL_QUORUM",
            "local_quorum",
            "LocalQuorum",
            "local-quorum",
        ] {
            assert_eq!(
                text.parse::<ConsistencyLevel>().unwrap().0,
                Consistency::LocalQuorum
            );
        }
        assert_eq!(
            "one".parse::<ConsistencyLevel>().unwrap().to_string(),
            "ONE"
        );
        let error = "MOSTLY".parse::<ConsistencyLevel>().unwrap_err();
        assert!(error.contains("MOSTLY") && error.contains("LOCAL_QUORUM"));
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("10").unwrap_err().contains("unit"));
        assert!(parse_duration("-1s").is_err());
    }
}

//! RFC 3339 timestamps on the command line (`--at 2024-06-01T12:00:00Z`) and
//! in output, through `mail_message::date`.

use std::time::SystemTime;

use mail_message::date::{parse_rfc3339, rfc3339, unix_seconds};

/// Formats a time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format(time: SystemTime) -> String {
    rfc3339(unix_seconds(time))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`; a date alone
/// means midnight UTC.
pub(crate) fn parse(text: &str) -> Result<SystemTime, String> {
    parse_rfc3339(text)
        .ok_or_else(|| format!("`{text}` is not an RFC 3339 time (like 2024-06-01T12:00:00Z)"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_utc_offsets_and_dates() {
        let noon = parse("2024-06-01T12:00:00Z").unwrap();
        assert_eq!(format(noon), "2024-06-01T12:00:00Z");
        assert_eq!(parse("2024-06-01T14:00:00+02:00").unwrap(), noon);
        assert_eq!(parse("2024-06-01T07:30:00.25-04:30").unwrap(), noon);
        assert_eq!(format(parse("2024-06-01").unwrap()), "2024-06-01T00:00:00Z");
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-06-01T25:00:00Z",
            "yesterday",
            "2024-06-01T12:00:00+2",
        ] {
            assert_eq!(
                parse(bad).unwrap_err(),
                format!("`{bad}` is not an RFC 3339 time (like 2024-06-01T12:00:00Z)")
            );
        }
    }
}

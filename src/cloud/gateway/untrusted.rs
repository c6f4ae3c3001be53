//! Strings a device chose (client ids, topics), made safe for a log line or a
//! terminal: control characters, escapes and line breaks are shown escaped, so
//! a client id cannot forge a log line or move the cursor.

use std::fmt::{self, Write};

/// Displays the wrapped string with every control character escaped.
pub(crate) struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// The escaped form, for messages built before they are logged.
pub(crate) fn escaped(s: &str) -> String {
    Untrusted(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_escapes_are_shown_not_obeyed() {
        let forged = "evil\n2026-12-05T00:00:00Z  INFO forged\x1b[2J\u{9b}31m";
        let shown = escaped(forged);
        assert!(!shown.contains('\n'));
        assert!(!shown.contains('\x1b'));
        assert!(!shown.contains('\u{9b}'));
        assert!(shown.starts_with("evil\\n2026"));
        assert_eq!(escaped("Thing-1/ü"), "Thing-1/ü");
    }
}

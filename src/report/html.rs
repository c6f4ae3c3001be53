//! What every HTML page of a run shares: escaping, verdict colours, the stylesheet. Pages
//! are single files that work offline and read without JavaScript.

use super::model::Verdict;

/// Escapes text for XML/HTML, dropping characters XML 1.0 cannot carry (NUL, other
/// C0 controls but tab and newline, U+FFFE/U+FFFF) and ANSI escape sequences.
pub fn esc(text: &str) -> String {
    let clean = quick_junit::XmlString::new(text);
    let mut out = String::with_capacity(clean.len());
    for c in clean.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' | '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A path for an `href`: each segment percent-encoded where a URL needs it.
pub fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'#' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn colour_of(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "#1e8449",
        Verdict::Failed => "#c0392b",
        Verdict::Bricked => "#641e16",
        Verdict::RecoveredByPowerCycle => "#d35400",
        Verdict::Error => "#8e44ad",
        Verdict::NotJudged => "#9b59b6",
        Verdict::Skipped => "#7f8c8d",
    }
}

/// Where a verdict sorts on a page: firmware failures first, then bench errors and
/// unjudged boards, then boards without a verdict, then passes and skips.
pub fn attention_rank(v: Option<Verdict>) -> u8 {
    match v {
        Some(v) => v.severity() * 2,
        None => 3,
    }
}

/// A coloured badge: `text` on the colour of `kind` (a verdict's name, `flaky` or
/// `flaky-pass`).
pub fn badge(text: &str, kind: &str) -> String {
    format!("<span class=\"badge b-{kind}\">{}</span>", esc(text))
}

/// The colour of a flaky case.
const FLAKY: &str = "#b9770e";

/// The colour of a case that passed on a retry: a pass's green, darker.
const FLAKY_PASS: &str = "#7d6608";

/// The stylesheet: [`STYLE`] and the badge colours. Written as `otarig.css` beside the
/// run's pages, not inline: Jenkins serves archived HTML under a Content-Security-Policy
/// that blocks inline styles but allows a stylesheet of the same origin.
pub fn stylesheet() -> String {
    let mut css = STYLE.to_string();
    for v in Verdict::ALL {
        css.push_str(&format!(".b-{}{{background:{}}}", v.as_str(), colour_of(v)));
    }
    css.push_str(&format!(".b-flaky{{background:{FLAKY}}}"));
    css.push_str(&format!(".b-flaky-pass{{background:{FLAKY_PASS}}}"));
    css
}

/// The file name of the stylesheet in a run's folder.
pub const STYLESHEET: &str = "otarig.css";

/// How a page gets its stylesheet.
#[derive(Clone, Copy, Debug)]
pub enum Css<'a> {
    /// A link to the run's `otarig.css` at this relative path.
    Link(&'a str),
    /// Inline, for a page that stands alone.
    Inline,
}

/// The stylesheet of every page (inline: one file, nothing fetched).
pub const STYLE: &str = "body{font-family:sans-serif;margin:16px;color:#222;line-height:1.35}\
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:22px 0 8px}\
p.sub{margin:0 0 10px;color:#555}a{color:#1f5fa8}\
table{border-collapse:collapse;margin:6px 0 12px}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f0f2f5}td.reason{max-width:70ch;white-space:pre-wrap;word-break:break-word}\
td.num{text-align:right;white-space:nowrap}td.links{white-space:nowrap}\
.badge{display:inline-block;color:#fff;font-weight:bold;border-radius:4px;padding:1px 7px;white-space:nowrap}\
details{margin:4px 0;border:1px solid #ddd;border-radius:4px;padding:4px 8px}\
summary{cursor:pointer}.note{background:#fff4d6;border:1px solid #e6c86e;padding:6px 10px;margin:8px 0}\
pre.console{font-size:12px;line-height:1.4;margin:0}\
pre.console span.l{display:block;white-space:pre-wrap;word-break:break-all;padding-left:7.5em;text-indent:-7.5em}\
pre.console span.l:target{background:#ffef9e}pre.console a.n{color:#999;text-decoration:none;display:inline-block;width:6.5em;text-align:right;margin-right:1em;text-indent:0}\
pre.console span.ann{color:#1f5fa8}pre.console span.bad{color:#b03020;font-weight:bold}\
svg.timeline{max-width:100%;height:auto}svg text{pointer-events:none}svg .mark{cursor:help}svg a .mark{cursor:pointer}";

/// `<!DOCTYPE html>` … with the title and stylesheet; `body` is HTML.
pub fn page(title: &str, body: &str, css: Css) -> String {
    let (head, tail) = page_parts(title, css);
    format!("{head}{body}{tail}")
}

/// A page's text before and after its body, for pages written piece by piece.
pub fn page_parts(title: &str, css: Css) -> (String, &'static str) {
    let style = match css {
        Css::Link(href) => format!("<link rel=\"stylesheet\" href=\"{}\">", esc(href)),
        Css::Inline => format!("<style>{}</style>", stylesheet()),
    };
    (
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title>{style}</head><body>\n",
            esc(title)
        ),
        "</body></html>\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_removes_what_xml_cannot_hold() {
        assert_eq!(
            esc("a\u{1b}[31mred\u{1b}[0m\0 <b> ]]> & \"q\""),
            "ared &lt;b&gt; ]]&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn hrefs_keep_paths_and_anchors_and_encode_the_rest() {
        assert_eq!(
            href("a-1/sim_2.console.html#L7"),
            "a-1/sim_2.console.html#L7"
        );
        assert_eq!(href("a b/\"x\""), "a%20b/%22x%22");
    }

    #[test]
    fn firmware_failures_sort_before_errors_unknowns_and_passes() {
        let order = [
            Some(Verdict::Bricked),
            Some(Verdict::Failed),
            Some(Verdict::Error),
            Some(Verdict::NotJudged),
            None,
            Some(Verdict::Passed),
            Some(Verdict::Skipped),
        ];
        for pair in order.windows(2) {
            assert!(
                attention_rank(pair[0]) > attention_rank(pair[1]),
                "{pair:?}"
            );
        }
    }
}

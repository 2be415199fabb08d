//! HTML building blocks: the one escaping function every database string goes through, URL
//! parts, the page frame and tables.

use std::fmt::Write;

use tune_report::{Align, TableData};

/// `s` escaped for HTML text and double-quoted attribute values: `&`, `<`, `>`, `"` and `'`
/// become character references. Every string that comes from the database or a request passes
/// through here before it reaches a page.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` percent-encoded for one URL path segment or query value: everything but ASCII letters,
/// digits and `-._~` (RFC 3986's unreserved characters) becomes `%XX`. Still pass the whole URL
/// through [`esc`] when it goes into an attribute.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A whole page: `title` (escaped here), the navigation, `body` (HTML already escaped) and the
/// change mark `mark` that the page's script polls `/mark` against for live updates.
pub fn page(title: &str, db: &str, mark: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · tune</title>\
         <link rel=\"stylesheet\" href=\"/assets/dash.css\">\
         <script src=\"/assets/dash.js\" defer></script></head>\
         <body data-mark=\"{mark}\">\
         <header><a class=\"brand\" href=\"/\">tune</a>\
         <nav><a href=\"/\">Sweeps</a><a href=\"/compare\">ANN vs CNN</a></nav>\
         <span class=\"db\" title=\"results database (read-only)\">{db} · read-only</span>\
         <span id=\"live\" class=\"live\">live</span></header>\n\
         <main>{body}</main></body></html>\n",
        title = esc(title),
        db = esc(db),
        mark = esc(mark),
    )
}

/// A table as HTML: `table`'s headers and shown cells, escaped. `head` may replace a header's
/// HTML (sort links); `extra` adds one last column: its header's HTML and the HTML of each row's
/// cell (links).
pub fn table(
    t: &TableData,
    class: &str,
    head: &dyn Fn(usize, &str) -> String,
    extra: Option<(&str, &dyn Fn(usize) -> String)>,
) -> String {
    let mut out = format!("<table class=\"{}\"><thead><tr>", esc(class));
    for (i, c) in t.columns.iter().enumerate() {
        let _ = write!(
            out,
            "<th class=\"{}\">{}</th>",
            align_class(c.align),
            head(i, &c.header)
        );
    }
    if let Some((h, _)) = extra {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for (r, row) in t.rows.iter().enumerate() {
        out.push_str("<tr>");
        for (c, cell) in t.columns.iter().zip(row) {
            let _ = write!(
                out,
                "<td class=\"{}\">{}</td>",
                align_class(c.align),
                esc(&cell.shown)
            );
        }
        if let Some((_, f)) = extra {
            let _ = write!(out, "<td>{}</td>", f(r));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

fn align_class(a: Align) -> &'static str {
    match a {
        Align::Left => "l",
        Align::Right => "r",
    }
}

/// A plain header: the text escaped.
pub fn plain_head(_: usize, h: &str) -> String {
    esc(h)
}

/// `1 h 05 min`, `4 min 10 s`, `12 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(enc("a b/<c>?d=é"), "a%20b%2F%3Cc%3E%3Fd%3D%C3%A9");
        assert_eq!(enc("quick-1a2b3c4d"), "quick-1a2b3c4d");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(12.4), "12 s");
        assert_eq!(duration(250.0), "4 min 10 s");
        assert_eq!(duration(3900.0), "1 h 05 min");
    }
}

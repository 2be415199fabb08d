//! Counts in messages: `1 class`, `2 classes`, `13,310 jobs`. One implementation for every
//! crate (tune-data's errors, tune-report's tables, tune's summaries).

/// `1030218` → `1,030,218`: a count as tables and messages show it.
pub fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `1 job`, `2 jobs`, `13,310 jobs`, `1 class`, `2 classes`: a count with thousands separators
/// and a noun, plural unless the count is 1 (`es` after a noun ending in s, x or sh, else `s`:
/// `epochs`, `classes`; nouns such as `batch` are not in tune's messages).
pub fn count(n: usize, noun: &str) -> String {
    let plural = if n == 1 {
        ""
    } else if ["s", "x", "sh"].iter().any(|e| noun.ends_with(e)) {
        "es"
    } else {
        "s"
    };
    format!("{} {noun}{plural}", thousands(n as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "class"), "1 class");
        assert_eq!(count(2, "class"), "2 classes");
        assert_eq!(count(2, "epoch"), "2 epochs");
        assert_eq!(count(0, "job"), "0 jobs");
        assert_eq!(count(13_310, "job"), "13,310 jobs");
        assert_eq!(count(1, "test image"), "1 test image");
        assert_eq!(thousands(1_030_218), "1,030,218");
    }
}

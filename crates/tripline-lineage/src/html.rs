//! Small helpers for the self-contained HTML renderings (every log string is escaped).

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A whole page: no external resources, no scripts.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\n\
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}\
table{{border-collapse:collapse;margin:.5em 0 1.2em}}td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;font-size:90%}}\
th{{background:#f3f3f3}}.flag{{color:#fff;background:#b3261e;border-radius:3px;padding:0 .3em;margin-right:.3em;font-size:85%}}\
.warn{{background:#a05a00}}.ok{{background:#2e7d32}}code{{font-size:90%}}h2{{margin-top:1.5em}}details{{margin:.3em 0}}\n\
</style></head><body>\n<h1>{}</h1>\n{}\n</body></html>\n",
        esc(title),
        esc(title),
        body
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}

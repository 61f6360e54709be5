//! Traffic sources and referrers matched to a canonical platform.
//!
//! Web analytics name the same platform many ways: `instagram`, `l.instagram.com`, `IG`,
//! `m.facebook.com`, `t.co`, `youtu.be`, `lnkd.in`, a full referrer URL, or a campaign tag
//! such as `utm_source=ig`. A source is normalised (lower case, the `utm_source` value, the
//! host of a URL without `www.`), then looked up as a whole, then host by host without its
//! leftmost labels (`lm.facebook.com` -> `facebook.com`). The table is data the user extends.

/// (source or host, platform): the documented default table.
pub const DEFAULT: &[(&str, &str)] = &[
    ("instagram", "instagram"),
    ("instagram.com", "instagram"),
    ("l.instagram.com", "instagram"),
    ("ig", "instagram"),
    ("insta", "instagram"),
    ("facebook", "facebook"),
    ("facebook.com", "facebook"),
    ("m.facebook.com", "facebook"),
    ("l.facebook.com", "facebook"),
    ("lm.facebook.com", "facebook"),
    ("fb", "facebook"),
    ("fb.com", "facebook"),
    ("fb.me", "facebook"),
    ("meta", "facebook"),
    ("x", "x"),
    ("x.com", "x"),
    ("twitter", "x"),
    ("twitter.com", "x"),
    ("t.co", "x"),
    ("tw", "x"),
    ("youtube", "youtube"),
    ("youtube.com", "youtube"),
    ("m.youtube.com", "youtube"),
    ("youtu.be", "youtube"),
    ("yt", "youtube"),
    ("tiktok", "tiktok"),
    ("tiktok.com", "tiktok"),
    ("vm.tiktok.com", "tiktok"),
    ("tt", "tiktok"),
    ("linkedin", "linkedin"),
    ("linkedin.com", "linkedin"),
    ("lnkd.in", "linkedin"),
    ("li", "linkedin"),
    ("pinterest", "pinterest"),
    ("pinterest.com", "pinterest"),
    ("pin.it", "pinterest"),
    ("threads", "threads"),
    ("threads.net", "threads"),
    ("threads.com", "threads"),
    ("snapchat", "snapchat"),
    ("snapchat.com", "snapchat"),
    ("reddit", "reddit"),
    ("reddit.com", "reddit"),
    ("out.reddit.com", "reddit"),
];

/// The lookup key of a raw source: lower case, the `utm_source` value when tagged, the host
/// of a URL (no scheme, path, port or `www.`).
pub fn normalise(raw: &str) -> String {
    let mut s = raw.trim().to_lowercase();
    if let Some(i) = s.find("utm_source=") {
        let rest = &s[i + "utm_source=".len()..];
        s = rest.split(['&', '#', ' ']).next().unwrap_or("").to_string();
    }
    if let Some(i) = s.find("://") {
        s = s[i + 3..].to_string();
    }
    let host = s.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("").trim();
    host.strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.')
        .to_string()
}

/// A table of sources: the user's entries first, then the defaults.
pub struct SourceTable {
    entries: Vec<(String, String)>,
}

impl SourceTable {
    pub fn new(extra: &[(String, String)]) -> Self {
        let mut entries: Vec<(String, String)> = extra.iter().map(|(s, p)| (normalise(s), p.clone())).collect();
        entries.extend(DEFAULT.iter().map(|(s, p)| (s.to_string(), p.to_string())));
        Self { entries }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(s, _)| s == key).map(|(_, p)| p.as_str())
    }

    /// The platform of a raw source, or None when nothing matches.
    pub fn platform(&self, raw: &str) -> Option<&str> {
        let key = normalise(raw);
        if key.is_empty() {
            return None;
        }
        if let Some(p) = self.get(&key) {
            return Some(p);
        }
        // subdomains: l.instagram.com -> instagram.com
        let mut rest = key.as_str();
        while let Some(i) = rest.find('.') {
            rest = &rest[i + 1..];
            if rest.contains('.') {
                if let Some(p) = self.get(rest) {
                    return Some(p);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_examples_match() {
        let t = SourceTable::new(&[]);
        let cases = [
            ("instagram", "instagram"),
            ("l.instagram.com", "instagram"),
            ("IG", "instagram"),
            ("m.facebook.com", "facebook"),
            ("lm.facebook.com", "facebook"),
            ("t.co", "x"),
            ("x.com", "x"),
            ("youtube.com", "youtube"),
            ("youtu.be", "youtube"),
            ("tiktok", "tiktok"),
            ("linkedin.com", "linkedin"),
            ("lnkd.in", "linkedin"),
            ("utm_source=ig", "instagram"),
            ("https://www.facebook.com/some/page?x=1", "facebook"),
            ("https://shop.example/?utm_source=tiktok&utm_medium=social", "tiktok"),
            ("de.linkedin.com", "linkedin"),
            // GA4's "session source / medium"
            ("l.instagram.com / referral", "instagram"),
        ];
        for (raw, platform) in cases {
            assert_eq!(t.platform(raw), Some(platform), "{raw}");
        }
        for raw in ["google", "(direct)", "newsletter", "", "bing.com", "com"] {
            assert_eq!(t.platform(raw), None, "{raw}");
        }
    }

    #[test]
    fn the_users_entries_come_first() {
        let t = SourceTable::new(&[("Newsletter".into(), "email".into()), ("ig".into(), "ig-shop".into())]);
        assert_eq!(t.platform("newsletter"), Some("email"));
        assert_eq!(t.platform("IG"), Some("ig-shop"));
    }
}

//! The countries whose owners may root a Kastell trust chain: the EU member states and the
//! other EEA states, by ISO 3166-1 alpha-2 code (as X.509 `C` carries it).

/// EU member states (27) and Iceland, Liechtenstein, Norway.
pub const EU_EEA: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// Whether `code` is an EU/EEA member state's ISO 3166-1 alpha-2 code (upper case).
#[must_use]
pub fn is_eu_eea(code: &str) -> bool {
    EU_EEA.contains(&code)
}

/// The error text for a code that is not EU/EEA, naming a likely mistake.
#[must_use]
pub fn explain(code: &str) -> String {
    let hint = match code {
        "EL" => " (Greece is GR in ISO 3166 and X.509; EL is the EU's own abbreviation)",
        "UK" | "GB" => " (the United Kingdom left the EU and the EEA)",
        "CH" => " (Switzerland is in EFTA but not in the EEA)",
        _ if code.len() != 2 || code.chars().any(|c| !c.is_ascii_uppercase()) => {
            " (expected two upper-case letters, ISO 3166-1 alpha-2)"
        }
        _ => "",
    };
    format!("country `{code}` is not an EU or EEA member state{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_states_pass_and_others_are_explained() {
        for code in ["DE", "FR", "GR", "NO", "IS", "LI"] {
            assert!(is_eu_eea(code), "{code}");
        }
        for (code, words) in [
            ("US", "not an EU"),
            ("EL", "Greece is GR"),
            ("GB", "left the EU"),
            ("CH", "EFTA"),
            ("de", "upper-case"),
        ] {
            assert!(!is_eu_eea(code));
            assert!(explain(code).contains(words), "{code}: {}", explain(code));
        }
    }
}

//! docs/compat.md and the `ntp.conf(5)` / `ntp.keys(5)` manuals, generated from the
//! compatibility table ([`super::compat`]) and clap's definition of ntpd, so the documents
//! say what the parser does. `tests/generated_compat.rs` keeps the committed copies current
//! (`NTPKIT_BLESS=1 cargo test --test generated_compat` rewrites them).

use super::compat::{self, Section, Support};
use std::fmt::Write;

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// docs/compat.md: every directive, option and flag of ntp.org 4.2.8 / NTPsec 1.2 and
/// what ntpkit does with it.
pub fn compat_markdown(ntpd: &clap::Command) -> String {
    let mut out = String::new();
    out.push_str(
        "# Compatibility with ntp.org 4.2.8 and NTPsec 1.2\n\n\
         Generated from the parser's table (`src/config/compat.rs`) and ntpd's command-line \
         definition by `NTPKIT_BLESS=1 cargo test --test generated_compat`; do not edit.\n\n\
         - **works**: parsed and acted on.\n\
         - **warned**: accepted; the daemon logs once, with file:line, that it is \
         \"accepted, not implemented\", and runs on.\n\
         - **rejected**: a syntax error naming file:line:column; the line is skipped \
         (for a flag: ntpd exits with a usage error).\n\n\
         Parsing is lenient where NTPsec's is: a directive that is complete when an \
         unexpected word comes (`server 192.0.2.1 prefer <==note`) is kept, and each \
         skipped word is warned about with its column. A word missing inside an option \
         (`minpoll x`) drops the line, as in NTPsec. Unknown directives are warned about \
         and their line skipped.\n\n",
    );
    let count = |s: Support| compat::TABLE.iter().filter(|e| e.support == s).count();
    let _ = writeln!(
        out,
        "ntp.conf keywords: {} work, {} are warned about, {} are rejected.\n",
        count(Support::Works),
        count(Support::Warned),
        count(Support::Rejected)
    );
    for &section in Section::ALL {
        let _ = writeln!(out, "## {}\n", section.title());
        out.push_str("| keyword | ntpkit | what it does |\n|---|---|---|\n");
        for e in compat::section(section) {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                e.name,
                e.support.word(),
                md_cell(e.note)
            );
        }
        out.push('\n');
    }
    out.push_str("## ntpd command line\n\n| flag | ntpkit | what it does |\n|---|---|---|\n");
    for f in compat::ntpd_flags(ntpd) {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            f.spelling,
            f.support.word(),
            md_cell(&f.note)
        );
    }
    out
}

/// Escape text for roff: backslashes, hyphens, and a leading control character.
fn roff(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-").replace('`', "");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

fn roff_header(name: &str, section: u8, summary: &str) -> String {
    format!(
        ".TH {} {section} \"\" \"ntpkit {}\"\n.SH NAME\n{name} \\- {}\n",
        name.to_uppercase().replace('.', "\\&."),
        env!("CARGO_PKG_VERSION"),
        roff(summary)
    )
}

fn roff_rows(out: &mut String, section: Section, prefix: &str) {
    for e in compat::section(section) {
        let tag = match e.support {
            Support::Works => String::new(),
            Support::Warned => " (accepted, not implemented)".into(),
            Support::Rejected => " (rejected)".into(),
        };
        let _ = writeln!(
            out,
            ".TP\n\\fB{}{}\\fR{}\n{}",
            roff(prefix),
            roff(e.name),
            roff(&tag),
            roff(e.note)
        );
    }
}

/// `ntp.conf(5)`.
pub fn ntp_conf_5() -> String {
    let mut out = roff_header("ntp.conf", 5, "configuration file of ntpkit's ntpd");
    out.push_str(
        ".SH SYNOPSIS\n/etc/ntp.conf\n.SH DESCRIPTION\n\
         ntpkit's \\fBntpd\\fR reads the ntp.conf of ntp.org 4.2.8 and NTPsec 1.2. One line is \
         one command; \\fB#\\fR starts a comment; keywords are case\\-sensitive. Every \
         message about the file names it as file:line[:column].\n.PP\n\
         A directive that is complete when an unexpected word follows is kept and each \
         skipped word is warned about (NTPsec does the same and logs a syntax error). A \
         keyword marked \"accepted, not implemented\" is logged once and the daemon runs on. \
         An unknown directive is logged and its line skipped.\n",
    );
    for &section in Section::ALL {
        if section == Section::KeyType {
            continue;
        }
        let _ = writeln!(out, ".SH {}", roff(&section.title().to_uppercase()));
        let prefix = match section {
            Section::Tinker => "tinker ",
            Section::Tos => "tos ",
            Section::Discard => "discard ",
            Section::Mru => "mru ",
            Section::Statistics => "statistics ",
            _ => "",
        };
        roff_rows(&mut out, section, prefix);
    }
    out.push_str(
        ".SH FILES\n/etc/ntp.conf\n.SH SEE ALSO\n\\fBntpd\\fR(8), \\fBntp.keys\\fR(5), \
         \\fBntpq\\fR(1); docs/compat.md in the ntpkit sources\n",
    );
    out
}

/// `ntp.keys(5)`.
pub fn ntp_keys_5() -> String {
    let mut out = roff_header(
        "ntp.keys",
        5,
        "symmetric keys of ntpkit's ntpd, ntpq and ntpdate",
    );
    out.push_str(
        ".SH SYNOPSIS\n/etc/ntp.keys (ntp.conf \\fBkeys\\fR, ntpd \\fB\\-k\\fR)\n\
         .SH DESCRIPTION\nOne key a line: \\fIid type key\\fR [\\fB#\\fR comment]. The id is \
         1 to 65535. A key of up to 20 printable characters is taken as text; a longer one \
         as hexadecimal. A key takes effect for servers and peers when \\fBtrustedkey\\fR \
         lists it, and for ntpq when it is the \\fBcontrolkey\\fR. Every message about the \
         file names it as file:line.\n.SH KEY TYPES\n",
    );
    roff_rows(&mut out, Section::KeyType, "");
    out.push_str(".SH EXAMPLE\n.nf\n");
    for e in compat::section(Section::KeyType) {
        let _ = writeln!(out, "{}", roff(e.example));
    }
    out.push_str(".fi\n.SH SEE ALSO\n\\fBntp.conf\\fR(5), \\fBntpd\\fR(8), \\fBntpq\\fR(1)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_row_and_ntpd_flag_is_documented() {
        let md = compat_markdown(&crate::apps::ntpd::command());
        for e in compat::TABLE {
            assert!(md.contains(&format!("| `{}` |", e.name)), "{}", e.name);
        }
        assert!(md.contains("| `-g (--panicgate)` | works |"), "{md}");
        let conf = ntp_conf_5();
        assert!(conf.starts_with(".TH NTP\\&.CONF 5"), "{conf}");
        assert!(conf.contains("\\fBtinker stepback\\fR"));
        assert!(ntp_keys_5().contains("AES128CMAC"));
    }
}

//! Splitting ntp.conf text into commands and tokens, the way ntpd's scanner does.
//!
//! One physical line is one command: ntpd's scanner (ntp.org and NTPsec) has no line
//! continuation. `#` starts a comment that runs to the end of the line, also in the middle
//! of a word. `"…"` quotes a string that may contain spaces and `#` (an unterminated quote
//! runs to the end of the line, as ntpd assumes the closing quote).

/// One word of a command, with its 1-based column (in characters) for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub column: usize,
    /// Written in double quotes: never a keyword, taken verbatim.
    pub quoted: bool,
}

/// One non-empty command: its 1-based line number and its tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub line: usize,
    pub tokens: Vec<Token>,
}

/// Tokenize a whole file. Empty and comment-only lines produce no command.
pub fn commands(text: &str) -> Vec<Command> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let tokens = tokenize_line(line);
            (!tokens.is_empty()).then_some(Command {
                line: i + 1,
                tokens,
            })
        })
        .collect()
}

/// Tokenize one line (no newline in it).
pub fn tokenize_line(line: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().enumerate().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        let column = i + 1;
        let mut text = String::new();
        let mut quoted = false;
        if c == '"' {
            quoted = true;
            chars.next();
            for (_, c) in chars.by_ref() {
                if c == '"' {
                    break;
                }
                text.push(c);
            }
        } else {
            let mut comment = false;
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                if c == '#' {
                    comment = true;
                    break;
                }
                text.push(c);
                chars.next();
            }
            if comment {
                tokens.push(Token {
                    text,
                    column,
                    quoted,
                });
                break;
            }
        }
        tokens.push(Token {
            text,
            column,
            quoted,
        });
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<(String, usize)> {
        tokenize_line(line)
            .into_iter()
            .map(|t| (t.text, t.column))
            .collect()
    }

    #[test]
    fn words_columns_and_comments() {
        assert_eq!(
            words("server 127.127.1.0 # local clock"),
            vec![("server".into(), 1), ("127.127.1.0".into(), 8)]
        );
        assert_eq!(
            words("  driftfile /x#y"),
            vec![("driftfile".into(), 3), ("/x".into(), 13)]
        );
        assert!(words("# only a comment").is_empty());
        assert!(words("   ").is_empty());
    }

    #[test]
    fn quoted_strings_keep_spaces_and_hashes() {
        let t = tokenize_line(r#"setvar owner = "The #1 Boss" default"#);
        assert_eq!(t[3].text, "The #1 Boss");
        assert!(t[3].quoted);
        assert_eq!(t[4].text, "default");
        // unterminated: runs to end of line
        let t = tokenize_line(r#"logfile "/var/log/a b"#);
        assert_eq!(t[1].text, "/var/log/a b");
    }

    #[test]
    fn commands_number_lines_from_one() {
        let c = commands("\n# c\nserver a\n\nrestrict default\n");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].line, 3);
        assert_eq!(c[1].line, 5);
    }
}

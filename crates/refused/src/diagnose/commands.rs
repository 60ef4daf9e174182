//! Suggested commands fitted to the host they will be typed on: the rules write them once, for
//! a user on a systemd host (`sudo nft ...`, `sudo systemctl start UNIT`), and [`fit`] adjusts
//! every suggestion to the facts: no `sudo` for root, `service UNIT start` where systemd does not
//! run.

use std::fmt::Write;

use super::facts::{Init, Privilege};

/// The `systemctl` verbs that `service UNIT VERB` takes as well.
const SERVICE_VERBS: [&str; 5] = ["start", "stop", "restart", "reload", "status"];

/// One suggestion, as it should read on this host.
pub(crate) fn fit(suggestion: &str, privilege: Privilege, init: Init) -> String {
    let text = match init {
        Init::Systemd => suggestion.to_owned(),
        Init::Other => without_systemctl(suggestion),
    };
    match privilege {
        Privilege::Root => without_sudo(&text),
        Privilege::User => text,
    }
}

/// Drops `sudo ` in front of a command; `sudo -u USER ...` stays, as it changes the user.
fn without_sudo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sudo ") {
        let starts_word = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric());
        let after = &rest[at + "sudo ".len()..];
        out.push_str(&rest[..at]);
        let is_the_command = starts_word && !after.starts_with('-');
        if !is_the_command {
            out.push_str("sudo ");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `systemctl VERB UNIT` as `service UNIT VERB`, for the verbs `service` has.
fn without_systemctl(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("systemctl ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "systemctl ".len()..];
        let end_of = |s: &str| {
            s.find(|c: char| c.is_whitespace() || c == '`')
                .unwrap_or(s.len())
        };
        let verb = &after[..end_of(after)];
        let unit_and_more = after[verb.len()..].strip_prefix(' ').unwrap_or("");
        let unit = &unit_and_more[..end_of(unit_and_more)];
        if SERVICE_VERBS.contains(&verb) && !unit.is_empty() {
            let _ = write!(out, "service {unit} {verb}");
            rest = &unit_and_more[unit.len()..];
        } else {
            out.push_str("systemctl ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_not_told_to_sudo() {
        let fitted = |s| fit(s, Privilege::Root, Init::Systemd);
        assert_eq!(
            fitted("remove it: `sudo nft delete rule inet filter output handle 7`"),
            "remove it: `nft delete rule inet filter output handle 7`"
        );
        assert_eq!(
            fitted("`sudo ip netns exec blue refused check 10.0.0.2:80`; or `sudo sysctl -w a=b`"),
            "`ip netns exec blue refused check 10.0.0.2:80`; or `sysctl -w a=b`"
        );
        // Changing user is still needed as root, and a word that ends in "sudo" is not the command.
        assert_eq!(
            fitted("run as postgres (`sudo -u postgres ...`); join `pseudo ` group"),
            "run as postgres (`sudo -u postgres ...`); join `pseudo ` group"
        );
        assert_eq!(
            fit("`sudo nft list ruleset`", Privilege::User, Init::Systemd),
            "`sudo nft list ruleset`"
        );
    }

    #[test]
    fn without_systemd_services_start_through_their_scripts() {
        assert_eq!(
            fit(
                "start PostgreSQL: `sudo systemctl start postgresql`",
                Privilege::User,
                Init::Other
            ),
            "start PostgreSQL: `sudo service postgresql start`"
        );
        assert_eq!(
            fit(
                "start Redis: `sudo systemctl start redis-server`",
                Privilege::Root,
                Init::Other
            ),
            "start Redis: `service redis-server start`"
        );
        assert_eq!(
            fit(
                "start Redis: `sudo systemctl start redis-server`",
                Privilege::Root,
                Init::Systemd
            ),
            "start Redis: `systemctl start redis-server`"
        );
        // Verbs `service` does not have, and a bare mention, stay as they are.
        for text in [
            "`systemctl enable --now x`",
            "see systemctl",
            "systemctl start",
        ] {
            assert_eq!(fit(text, Privilege::User, Init::Other), text);
        }
    }
}

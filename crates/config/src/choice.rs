//! Settings that take one of a few spellings (`judge.inconclusive = "pause"`): typed enums in
//! the configuration, read with a message that names the key and lists the spellings, as the
//! hand-written checks they replace did.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// Reads one of `all`'s spellings; anything else is an error saying `problem(written)`.
pub(crate) fn one_of<'de, D, T>(
    d: D,
    all: &[(&'static str, T)],
    problem: impl FnOnce(&str) -> String,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Copy,
{
    let written = String::deserialize(d)?;
    all.iter()
        .find(|(name, _)| *name == written)
        .map(|(_, v)| *v)
        .ok_or_else(|| D::Error::custom(problem(&written)))
}

/// What a misspelled choice is told about: the spelling written, and for a choice in an array
/// of tables (`[[webhooks]]`), the table's index and its `name`.
pub(crate) struct Written<'a> {
    pub value: &'a str,
    pub index: usize,
    pub name: &'a str,
}

/// A choice of ship.toml: where it is (`table.key` as a header and key spell it; `array` when
/// the table is an array of tables), its spellings (the first replaces a wrong one, so the
/// rest of the file is still checked) and what a wrong one is told.
struct Key {
    key: &'static str,
    array: bool,
    spellings: &'static [&'static str],
    problem: fn(&Written) -> String,
}

const KEYS: &[Key] = &[
    Key {
        key: "judge.inconclusive",
        array: false,
        spellings: &["pause", "promote", "rollback"],
        problem: |w| crate::judge::inconclusive_problem(w.value),
    },
    Key {
        key: "validation.on_failure",
        array: false,
        spellings: &["rollback", "manual"],
        problem: |w| crate::gates::on_failure_problem(w.value),
    },
    Key {
        key: "staging.router",
        array: false,
        spellings: crate::gates::StagingRouter::SPELLINGS,
        problem: |w| crate::gates::StagingRouter::problem(w.value),
    },
    Key {
        key: "proxy.balance",
        array: false,
        spellings: crate::proxy::Balance::SPELLINGS,
        problem: |w| crate::proxy::Balance::problem(w.value),
    },
    Key {
        key: "proxy.instances.version",
        array: true,
        spellings: crate::proxy::InstanceVersion::SPELLINGS,
        problem: |w| {
            format!(
                "proxy.instances[{}].version {:?}: \"stable\" or \"canary\"",
                w.index, w.value
            )
        },
    },
    Key {
        key: "smoke.method",
        array: true,
        spellings: crate::gates::SmokeMethod::SPELLINGS,
        problem: |w| {
            format!(
                "[[smoke]] `{}`: method {:?} is not an HTTP method",
                w.name, w.value
            )
        },
    },
    Key {
        key: "webhooks.format",
        array: true,
        spellings: crate::integrations::WebhookFormat::SPELLINGS,
        problem: |w| {
            format!(
                "webhooks[{}].format {:?}: \"cloudevents\" or \"slack\"",
                w.index, w.value
            )
        },
    },
];

/// When toml refused a choice's value because it is not one of the spellings: the problem,
/// where the validator would report it (at the key), and the document with the first spelling
/// in its place. Decided from the document: the key at the error and the string written there.
pub(crate) fn misspelled(text: &str, e: &toml::de::Error) -> Option<(crate::Problem, String)> {
    let span = e.span()?;
    let key = crate::key_at(text, span.start)?;
    let choice = KEYS.iter().find(|k| k.key == key)?;
    let raw = text.get(span.clone())?.trim();
    let value = raw.strip_prefix('"')?.strip_suffix('"')?;
    if value.contains(['"', '\\']) || choice.spellings.contains(&value) {
        return None;
    }
    let (table, field) = key.rsplit_once('.')?;
    let mut path: Vec<&str> = table.split('.').collect();
    let (index, name) = if choice.array {
        element_at(text, &path, span.start)?
    } else {
        (0, String::new())
    };
    let index_text = index.to_string();
    if choice.array {
        path.push(&index_text);
    }
    path.push(field);
    let message = (choice.problem)(&Written {
        value,
        index,
        name: &name,
    });
    let fixed = format!(
        "{}\"{}\"{}",
        &text[..span.start],
        choice.spellings[0],
        &text[span.end..]
    );
    Some((crate::Problem::new(&path, message), fixed))
}

/// The index (and `name`) of the element of the array of tables at `path` that holds `offset`.
fn element_at(text: &str, path: &[&str], offset: usize) -> Option<(usize, String)> {
    use toml::de::DeTable;
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let (last, parents) = path.split_last()?;
    for seg in parents {
        table = table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == *seg)?
            .1
            .get_ref()
            .as_table()?;
    }
    let array = table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == *last)?
        .1
        .get_ref()
        .as_array()?;
    // The last element that starts before the offset holds it.
    let (i, element) = array
        .iter()
        .enumerate()
        .rfind(|(_, v)| v.span().start <= offset)?;
    let name = element
        .get_ref()
        .as_table()
        .and_then(|t| t.iter().find(|(k, _)| k.get_ref().as_ref() == "name"))
        .and_then(|(_, v)| v.get_ref().as_str().map(str::to_string))
        .unwrap_or_default();
    Some((i, name))
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn every_misspelled_choice_is_reported_at_its_key_with_the_other_problems() {
        // In the order ship.toml's sections are read, then the validator's problems.
        let text = "[proxy]\nbalance = \"random\"\nhealth_path = \"healthz\"\n\n[[webhooks]]\nurl = \"http://a/\"\nformat = \"email\"\n\n[[smoke]]\nname = \"home\"\nmethod = \"FETCH\"\ncommand = \"true\"\n";
        let e = Config::parse(text).unwrap_err();
        let all: Vec<(usize, usize, &str)> = std::iter::once(&e)
            .chain(&e.more)
            .map(|e| (e.line, e.column, e.message.as_str()))
            .collect();
        assert_eq!(
            all,
            [
                (
                    2,
                    1,
                    "proxy.balance \"random\": \"round-robin\" or \"least-requests\""
                ),
                (
                    11,
                    1,
                    "[[smoke]] `home`: method \"FETCH\" is not an HTTP method"
                ),
                (
                    7,
                    1,
                    "webhooks[0].format \"email\": \"cloudevents\" or \"slack\""
                ),
                (3, 1, "proxy.health_path \"healthz\": must start with /"),
            ]
        );
    }

    #[test]
    fn choices_read_their_spellings() {
        let c = Config::parse("[staging]\nrouter = \"command\"\nurl = \"http://s/\"\nset_weight = \"true\"\n\n[proxy]\nbalance = \"least-requests\"\n").unwrap();
        assert_eq!(c.staging.router, crate::StagingRouter::Command);
        assert_eq!(c.proxy.balance, crate::Balance::LeastRequests);
        assert_eq!(
            "random".parse::<crate::Balance>().unwrap_err().to_string(),
            "proxy.balance \"random\": \"round-robin\" or \"least-requests\""
        );
    }
}

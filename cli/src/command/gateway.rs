//! `mailgate process` and `mailgate certs ...`: the gateway facade from the
//! command line.

use std::path::Path;
use std::sync::Arc;

use gateway_facade::certificates::entries_from_file;
use gateway_facade::store::{Added, Directory, Entry, TrustState};
use gateway_facade::{
    Buffer, Config, Disposition, Envelope, Gateway, ImportError, Imported, KeyVault, Outcome,
    SpooledMessage,
};
use serde_json::{Value, json};

use crate::args::{CertsCommand, ConfigArg, KeysCommand, ProcessArgs};
use crate::command::{display, passphrase_from_env, read_input};
use crate::failure::{Failure, Verdict};
use crate::output::Output;
use crate::rfc3339;

pub(crate) fn config_failure(path: &Path, error: &dyn std::error::Error) -> Failure {
    Failure::input(display(path), error)
}

pub(crate) fn open_gateway(config: &ConfigArg) -> Result<Gateway, Failure> {
    Gateway::from_config_file(&config.config).map_err(|e| match e {
        // The directory may be back in a moment (locked, on a network
        // share): the MTA should retry, not bounce.
        gateway_facade::Error::Store(store) => Failure::Temporary(store.to_string()),
        other => config_failure(&config.config, &other),
    })
}

pub(crate) fn process(args: &ProcessArgs, output: &Output) -> Result<Verdict, Failure> {
    // A mail in hand with a configuration that does not load (a truncated
    // policy, a broken key file) waits for the administrator: exit 3, so
    // the MTA defers it instead of bouncing it. `policy check` and the
    // other commands still call the same error malformed input (exit 2).
    let gateway = open_gateway(&args.config).map_err(|failure| match failure {
        Failure::Input { input, message } => Failure::Temporary(format!(
            "{input}: {message} (the mail waits until it is fixed)"
        )),
        other => other,
    })?;
    // Large mail is spooled to a temporary file, not held in memory.
    let message = SpooledMessage::read_from(std::io::stdin().lock())
        .map_err(|e| Failure::input("standard input", &e))?;
    let envelope = Envelope {
        direction: args.direction,
        sender: args.from.clone(),
        recipients: args.to.iter().map(|to| to.as_str().to_owned()).collect(),
    };
    let outcome = gateway.process_spooled(&envelope, &message);
    let result = write_outcome(&outcome, &args.out_dir)?;
    output.result(|| summary(&outcome), || result.clone());
    if outcome.all_deferred() {
        return Err(Failure::Temporary(format!(
            "every recipient was deferred: {}",
            outcome
                .dispositions
                .iter()
                .filter_map(Disposition::reason)
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(Verdict::Holds)
}

/// Writes OUT/result.json and the files it names; returns the JSON.
pub(crate) fn write_outcome(outcome: &Outcome, out: &Path) -> Result<Value, Failure> {
    let failed = |path: &Path, e: std::io::Error| Failure::input(display(path), &e);
    std::fs::create_dir_all(out).map_err(|e| failed(out, e))?;
    let result = outcome.to_json_with(|index, buffer, bytes| {
        let stem = match buffer {
            Buffer::Message => "message",
            Buffer::Notification => "notification",
        };
        let name = format!("{stem}-{}.eml", index + 1);
        let path = out.join(&name);
        std::fs::File::create(&path)
            .and_then(|file| {
                let mut writer = std::io::BufWriter::new(file);
                bytes.write_to(&mut writer)?;
                std::io::Write::flush(&mut writer)
            })
            .map_err(|e| failed(&path, e))?;
        Ok(Value::String(name))
    })?;
    // The record's fields are in the order a `Value` keeps them (sorted).
    let result = serde_json::to_value(&result).unwrap_or_default();
    let path = out.join("result.json");
    let text = serde_json::to_string_pretty(&result).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| failed(&path, e))?;
    Ok(result)
}

/// One line per disposition, for people.
pub(crate) fn summary(outcome: &Outcome) -> String {
    let mut lines = Vec::new();
    for disposition in &outcome.dispositions {
        for recipient in disposition.recipients() {
            // The trace names recipients by their canonical key.
            let key = mail_message::Mailbox::parse(recipient)
                .map_or_else(|_| recipient.to_ascii_lowercase(), |m| m.key().to_owned());
            let decision = outcome
                .audit
                .decisions
                .iter()
                .flatten()
                .find(|d| d.address == key);
            let rule = decision
                .and_then(|d| d.decided_by.as_deref())
                .unwrap_or("no terminal rule");
            let actions = decision
                .map(|d| {
                    d.actions
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let mut line = format!("{recipient}: {} (by {rule}; {actions})", disposition.kind());
            if let Some(reason) = disposition.reason() {
                line.push_str(&format!(": {reason}"));
            }
            if let Disposition::Deliver { transport, .. } = disposition
                && let Some(profile) = &transport.require_tls
            {
                line.push_str(&format!(", only over TLS meeting {profile}"));
            }
            lines.push(line);
        }
    }
    lines.join("\n")
}

fn open_directory(config: &ConfigArg) -> Result<Arc<dyn Directory>, Failure> {
    let parsed = Config::load(&config.config).map_err(|e| config_failure(&config.config, &e))?;
    gateway_facade::store::open_configured(&parsed).map_err(|e| match e {
        // A directory that cannot be opened now may open later: temporary.
        gateway_facade::Error::Store(store) => Failure::Temporary(store.to_string()),
        other => config_failure(&config.config, &other),
    })
}

fn entry_json(entry: &Entry) -> Value {
    json!({
        "id": entry.id,
        "kind": entry.kind,
        "fingerprint": entry.fingerprint,
        "addresses": entry.addresses,
        "state": entry.state,
        "not_after": entry.not_after,
        "source": entry.source,
    })
}

pub(crate) fn certs(command: CertsCommand, output: &Output) -> Result<Verdict, Failure> {
    let store_failure = |e: gateway_facade::store::StoreError| Failure::Temporary(e.to_string());
    match command {
        CertsCommand::List { config, state } => {
            let entries = open_directory(&config)?
                .list(state)
                .map_err(store_failure)?;
            output.result(
                || {
                    entries
                        .iter()
                        .map(|e| {
                            format!(
                                "{:>4}  {:<8} {:<5} {}  {}  ({})",
                                e.id,
                                e.state.as_str(),
                                e.kind.as_str(),
                                e.fingerprint,
                                e.addresses.join(", "),
                                e.source
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
                || json!({ "certificates": entries.iter().map(entry_json).collect::<Vec<_>>() }),
            );
        }
        CertsCommand::Import { file, config } => {
            let bytes = read_input(&file)?;
            let entries = entries_from_file(&bytes, "import")
                .map_err(|e| Failure::input(display(&file), &e))?;
            let directory = open_directory(&config)?;
            let mut imported = Vec::new();
            for entry in &entries {
                let added = directory
                    .add(entry, TrustState::Trusted)
                    .map_err(store_failure)?;
                imported.push((entry, added));
            }
            output.result(
                || {
                    imported
                        .iter()
                        .map(|(e, added)| match added {
                            Added::New(id) => format!(
                                "imported {id}: {} {}",
                                e.kind.as_str(),
                                e.addresses.join(", ")
                            ),
                            Added::Known(id) => format!(
                                "already known as {id}: {} {}",
                                e.kind.as_str(),
                                e.addresses.join(", ")
                            ),
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
                || {
                    json!({ "imported": imported.iter().map(|(e, added)| json!({
                        "id": added.id(),
                        "new": matches!(added, Added::New(_)),
                        "kind": e.kind,
                        "fingerprint": e.fingerprint,
                        "addresses": e.addresses,
                    })).collect::<Vec<_>>() })
                },
            );
        }
        CertsCommand::Approve { id, config } => {
            set_state(&config, id, TrustState::Trusted, output)?
        }
        CertsCommand::Reject { id, config } => {
            set_state(&config, id, TrustState::Rejected, output)?
        }
    }
    Ok(Verdict::Holds)
}

fn set_state(
    config: &ConfigArg,
    id: i64,
    state: TrustState,
    output: &Output,
) -> Result<(), Failure> {
    match open_directory(config)?.set_state(id, state) {
        Ok(()) => {
            output.result(
                || format!("certificate {id} is now {}", state.as_str()),
                || json!({ "id": id, "state": state }),
            );
            Ok(())
        }
        Err(gateway_facade::store::StoreError::NoSuchEntry(id)) => Err(Failure::Usage(format!(
            "no certificate with id {id} (see 'mailgate certs list')"
        ))),
        Err(e) => Err(Failure::Temporary(e.to_string())),
    }
}

pub(crate) fn keys(command: KeysCommand, output: &Output) -> Result<Verdict, Failure> {
    let KeysCommand::Import {
        file,
        config,
        pass_env,
        address,
    } = command;
    let settings = Config::load(&config.config).map_err(|e| config_failure(&config.config, &e))?;
    let bytes = zeroize::Zeroizing::new(read_input(&file)?);
    let passphrase = passphrase_from_env(pass_env.as_deref())?;
    let imported = KeyVault::new(&settings)
        .import(
            &bytes,
            passphrase.as_deref().map(|p| &p[..]),
            address.as_deref(),
        )
        .map_err(|e| match e {
            ImportError::Gateway(gateway_facade::Error::Io { path, source }) => {
                Failure::input(display(&path), &source)
            }
            other => Failure::input(display(&file), &other),
        })?;
    let files: Vec<String> = imported.files().iter().map(|f| display(f)).collect();
    output.result(
        || match &imported {
            Imported::Smime {
                address,
                fingerprint,
                not_after,
                ..
            } => format!(
                "imported the S/MIME key of {address} (certificate {fingerprint}, valid until {}), stored encrypted at rest in {}",
                rfc3339::format(*not_after),
                files.join(", ")
            ),
            Imported::Pgp {
                address,
                fingerprint,
                ..
            } => format!(
                "imported the OpenPGP key of {address} ({fingerprint}), stored encrypted at rest in {}",
                files.join(", ")
            ),
        },
        || match &imported {
            Imported::Smime {
                address,
                fingerprint,
                not_after,
                ..
            } => json!({
                "kind": "smime",
                "address": address,
                "fingerprint": fingerprint,
                "not_after": rfc3339::format(*not_after),
                "files": files,
            }),
            Imported::Pgp {
                address,
                fingerprint,
                ..
            } => json!({
                "kind": "pgp",
                "address": address,
                "fingerprint": fingerprint,
                "files": files,
            }),
        },
    );
    Ok(Verdict::Holds)
}

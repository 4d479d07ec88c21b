//! Evaluation of a policy for one mail, per recipient.
//!
//! For each recipient the applicable scopes are put in order: enforced rules
//! first (global, then domain, group, user), then the other rules from the
//! most specific scope to the least (user, groups, domains by specificity,
//! global). A rule with the same id in a more specific scope overrides the
//! inherited one. Walking that list:
//!
//! - the first terminal rule (one with `deliver`, `block`, `quarantine`,
//!   `encrypt` or `require_tls`) that matches decides; later terminal rules
//!   are not tried, so their host facts are never asked;
//! - except rules of a different scope of equal standing (two groups of the
//!   recipient): they are tried too, and the more protective decision wins;
//! - non-terminal rules are all tried, and their effects (sign, header edits,
//!   archive, notify, whitelist, decrypt, harvest) accumulate.
//!
//! Then host facts turn the decision into actions: which encryption method,
//! which fallback, whether the sender can sign. A fact the host cannot
//! establish defers the recipient (fail closed).

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::facts::{Fact, FactCache, FactError, FactSource};
use crate::keywords::KeywordIndex;
use crate::message::Message;
use crate::outcome::{Action, Evaluation, Outcome, RecipientDecision};
use crate::policy::Policy;
use crate::syntax::{
    Actions, AttachmentTest, BodyTest, Condition, Decision, Direction, DomainPattern, FactKind,
    Fallback, HeaderTest, Method, Party, Rule, Scope, SignSpec,
};
use crate::trace::{ConditionCheck, Detail, TraceEvent, TraceStep};

/// Who sends a mail to whom, and which way it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Inbound or outbound.
    pub direction: Direction,
    /// The envelope sender (MAIL FROM).
    pub sender: String,
    /// The envelope recipients (RCPT TO).
    pub recipients: Vec<String>,
}

impl Envelope {
    /// An envelope. Addresses are compared in their canonical form
    /// ([`mail_message::Mailbox::key`]): `Erin@Geheim.Example.` and
    /// `<erin@geheim.example>` are one recipient, and results name it so.
    pub fn new<R: Into<String>>(
        direction: Direction,
        sender: impl Into<String>,
        recipients: impl IntoIterator<Item = R>,
    ) -> Self {
        Self {
            direction,
            sender: sender.into(),
            recipients: recipients.into_iter().map(Into::into).collect(),
        }
    }
}

/// A header edit in words, for the trace.
fn describe_edit(edit: &crate::syntax::HeaderEdit) -> String {
    use crate::syntax::HeaderEdit;
    match edit {
        HeaderEdit::Add { name, value } => format!("header edit: add {name}: {value}"),
        HeaderEdit::Remove { name } => format!("header edit: remove {name}"),
        HeaderEdit::Replace { name, value } => format!("header edit: replace {name} by {value}"),
        HeaderEdit::StripSubjectTag { tag } => {
            format!("header edit: strip {tag} from the Subject")
        }
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// The form conditions compare: the [`mail_message::Mailbox::key`] of every
/// spelling of a mailbox (case, trailing dot, IDNA U- or A-label, quoting,
/// angle brackets, source route), so a domain or address rule cannot be
/// walked around by spelling the envelope differently. Text that is no
/// mailbox (the null sender `<>`, a refused form when the host did not
/// refuse it) is compared in ASCII lower case, where it matches no domain
/// a policy can name (domains in a policy are canonical).
pub(crate) fn address_key(address: &str) -> String {
    let address = address.trim();
    mail_message::Mailbox::parse(address)
        .map_or_else(|_| address.to_ascii_lowercase(), |m| m.key().to_owned())
}

/// A rule in the order it is tried for one recipient.
#[derive(Clone, Copy)]
struct Candidate<'p> {
    scope: &'p Scope,
    rule: &'p Rule,
    /// Rules with the same tier and a different scope have equal standing.
    tier: usize,
}

/// The rules tried, in order, for a set of applicable scopes, and the trace
/// of overrides among them.
struct Plan<'p> {
    candidates: Vec<Candidate<'p>>,
    overrides: Vec<TraceStep>,
    /// For traces of decisions only: `candidates` without the rules that
    /// cannot match this mail for any recipient (conditions that look at
    /// neither recipient, host facts nor the body, found false once per
    /// mail). A rule that does not match leaves no trace then, so leaving
    /// it out changes nothing but the time spent.
    reachable: OnceCell<Vec<Candidate<'p>>>,
}

impl<'p> Plan<'p> {
    fn reachable(&self, subject: &Subject<'_>) -> &[Candidate<'p>] {
        self.reachable.get_or_init(|| {
            self.candidates
                .iter()
                .filter(|c| {
                    let Some(condition) = &c.rule.when else {
                        return true;
                    };
                    if c.rule.per_recipient || condition.cost() > 0 {
                        return true;
                    }
                    let memo = subject.memo.borrow().get(c.rule.index).copied();
                    match memo {
                        Some(1) => false,
                        Some(2) => true,
                        _ => match subject.holds(condition, &mut Vec::new()) {
                            Ok(matched) => {
                                if let Some(slot) = subject.memo.borrow_mut().get_mut(c.rule.index)
                                {
                                    *slot = if matched { 2 } else { 1 };
                                }
                                matched
                            }
                            // Kept: evaluated again in order, where the
                            // error defers the recipient.
                            Err(_) => true,
                        },
                    }
                })
                .copied()
                .collect()
        })
    }
}

/// Plans by the indices of the applicable scopes, for one evaluation.
type Plans<'p> = RefCell<HashMap<Vec<usize>, Rc<Plan<'p>>>>;

/// Everything the conditions of one recipient look at.
struct Subject<'a> {
    envelope: &'a Envelope,
    message: &'a Message,
    sender: String,
    recipient: &'a str,
    /// The domains of sender and recipient, split off once.
    sender_domain: &'a str,
    recipient_domain: &'a str,
    internal: &'a [DomainPattern],
    facts: &'a FactCache<'a>,
    /// Body scans do not depend on the recipient: hits per `BodyTest`
    /// (by address), shared by all recipients of one evaluation.
    scans: &'a RefCell<HashMap<usize, u64>>,
    /// Occurrences of each policy keyword, counted on first need.
    keyword_counts: &'a OnceCell<Vec<u64>>,
    keywords: &'a KeywordIndex,
    /// Whether to record every condition evaluated ([`Detail::Full`]).
    record: bool,
    /// Results of rules that do not look at the recipient, by rule index:
    /// 0 not evaluated yet, 1 did not match, 2 matched. Used only when
    /// conditions are not recorded.
    memo: &'a RefCell<Vec<u8>>,
}

/// Effects accumulated from non-terminal rules (and the deciding rule).
#[derive(Default)]
struct Effects {
    sign: Option<(SignSpec, String)>,
    whitelist: Option<String>,
    notify: Option<String>,
    archive: bool,
    decrypt: bool,
    harvest: bool,
    header_edits: Vec<crate::syntax::HeaderEdit>,
}

impl Effects {
    fn add(&mut self, rule: &Rule, scope: &str, trace: &mut Vec<TraceStep>) {
        let then: &Actions = &rule.then;
        let mut what = Vec::new();
        if let Some(sign) = &then.sign {
            match &mut self.sign {
                None => {
                    self.sign = Some((sign.clone(), rule.id.clone()));
                    what.push("sign".to_owned());
                }
                Some((existing, _)) if sign.required && !existing.required => {
                    existing.required = true;
                    what.push("sign (now required: the more protective mode)".to_owned());
                }
                Some(_) => {}
            }
        }
        if then.whitelist && self.whitelist.is_none() {
            self.whitelist = Some(rule.id.clone());
            what.push("whitelist".to_owned());
        }
        if let Some(t) = &then.notify_sender
            && self.notify.is_none()
        {
            self.notify = Some(t.clone());
            what.push(format!("notify-sender ({t})"));
        }
        if then.archive && !self.archive {
            self.archive = true;
            what.push("archive".to_owned());
        }
        if then.decrypt && !self.decrypt {
            self.decrypt = true;
            what.push("decrypt".to_owned());
        }
        if then.harvest && !self.harvest {
            self.harvest = true;
            what.push("harvest-keys".to_owned());
        }
        for edit in &then.header_edits {
            if !self.header_edits.contains(edit) {
                self.header_edits.push(edit.clone());
                what.push(describe_edit(edit));
            }
        }
        if !what.is_empty() {
            trace.push(TraceStep {
                scope: scope.to_owned(),
                rule: Some(rule.id.clone()),
                event: TraceEvent::Effect {
                    what: what.join(", "),
                },
            });
        }
    }
}

impl Subject<'_> {
    /// The addresses of `party`: one for the envelope's, each mailbox of
    /// the header From (none if it names none).
    fn addresses(&self, party: Party) -> impl Iterator<Item = &str> {
        let (envelope, header): (Option<&str>, &[String]) = match party {
            Party::Sender => (Some(self.sender.as_str()), &[]),
            Party::Recipient => (Some(self.recipient), &[]),
            Party::HeaderFrom => (None, self.message.from_addresses()),
        };
        envelope
            .into_iter()
            .chain(header.iter().map(String::as_str))
    }

    /// Whether `test` holds for a domain of `party`.
    fn any_domain(&self, party: Party, test: impl Fn(&str) -> bool) -> bool {
        match party {
            Party::Sender => test(self.sender_domain),
            Party::Recipient => test(self.recipient_domain),
            Party::HeaderFrom => self
                .message
                .from_addresses()
                .iter()
                .any(|a| test(domain_of(a))),
        }
    }

    fn ask(
        &self,
        fact: Fact,
        checks: &mut Vec<ConditionCheck>,
        condition: &Condition,
        expected: bool,
    ) -> Result<bool, FactError> {
        let (answer, fresh) = self.facts.get(&fact);
        let answer = answer?;
        let held = answer == expected;
        if !self.record {
            return Ok(held);
        }
        checks.push(ConditionCheck {
            condition: condition.to_string(),
            held,
            fact: Some(format!(
                "{fact}: {}{}",
                if answer { "yes" } else { "no" },
                if fresh { "" } else { ", cached" }
            )),
        });
        Ok(held)
    }

    /// Refuses to decide a content condition on part of the content: a
    /// message read past its limit defers the recipients it matters for.
    fn content_seen(&self) -> Result<(), FactError> {
        if self.message.is_complete() {
            Ok(())
        } else {
            Err(FactError {
                message: "the message has more text and structure than content rules may read"
                    .into(),
            })
        }
    }

    /// Evaluates `condition`, short-circuiting; leaves evaluated are recorded.
    fn holds(
        &self,
        condition: &Condition,
        checks: &mut Vec<ConditionCheck>,
    ) -> Result<bool, FactError> {
        let leaf = |held: bool, checks: &mut Vec<ConditionCheck>| {
            if self.record {
                checks.push(ConditionCheck {
                    condition: condition.to_string(),
                    held,
                    fact: None,
                });
            }
            Ok(held)
        };
        match condition {
            Condition::All(items) => {
                for c in items {
                    if !self.holds(c, checks)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Any(items) => {
                for c in items {
                    if self.holds(c, checks)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(inner) => Ok(!self.holds(inner, checks)?),
            Condition::Direction(d) => leaf(self.envelope.direction == *d, checks),
            Condition::Address(party, list) => {
                // Sorted when parsed.
                let held = self
                    .addresses(*party)
                    .any(|a| list.binary_search_by(|x| x.as_str().cmp(a)).is_ok());
                leaf(held, checks)
            }
            Condition::Domain(party, list) => {
                let held = self.any_domain(*party, |d| list.iter().any(|p| p.matches(d)));
                leaf(held, checks)
            }
            Condition::AddressRegex(party, pattern) => {
                let mut held = false;
                for address in self.addresses(*party) {
                    if pattern.is_match(address)? {
                        held = true;
                        break;
                    }
                }
                leaf(held, checks)
            }
            Condition::Internal(party, expected) => {
                let internal_domain = |d: &str| self.internal.iter().any(|p| p.matches(d));
                // Internal only if there is an address and every one is: a
                // From that adds an outside author, or names none, is not
                // the organisation's.
                let mut addresses = self.addresses(*party).peekable();
                let internal =
                    addresses.peek().is_some() && addresses.all(|a| internal_domain(domain_of(a)));
                leaf(internal == *expected, checks)
            }
            Condition::Header {
                name,
                test,
                case_sensitive,
            } => leaf(self.header_holds(name, test, *case_sensitive)?, checks),
            Condition::SubjectTag(tag) => {
                // Both in the normal form of `shown_text::normalize` (the
                // tag since parsing): every spelling a reader sees as the
                // tag is the tag.
                let held = self
                    .message
                    .subject_normalized()
                    .is_some_and(|s| s.contains(tag.as_str()));
                leaf(held, checks)
            }
            Condition::Attachments(test) => {
                if let Some(p) = &test.name_regex {
                    p.regex()?;
                }
                self.content_seen()?;
                leaf(attachments_hold(test, self.message), checks)
            }
            Condition::Body(test) => leaf(self.body_holds(test)?, checks),
            Condition::SizeOver(n) => leaf(self.message.size() > *n, checks),
            Condition::SizeUnder(n) => leaf(self.message.size() < *n, checks),
            Condition::Signed(b) => leaf(self.message.is_signed() == *b, checks),
            Condition::Encrypted(b) => leaf(self.message.is_encrypted() == *b, checks),
            Condition::Fact(kind, expected) => {
                self.ask(self.fact(kind), checks, condition, *expected)
            }
        }
    }

    /// Whether a value of header `name` passes `test`.
    fn header_holds(
        &self,
        name: &str,
        test: &HeaderTest,
        case_sensitive: bool,
    ) -> Result<bool, FactError> {
        if let HeaderTest::Matches(p) = test {
            p.regex()?;
        }
        Ok(self.message.header_values(name).any(|value| {
            let value = value.trim();
            match test {
                HeaderTest::Exists => true,
                HeaderTest::Equals(v) if case_sensitive => value == v,
                // Without case sensitivity, in the normal form the
                // Subject tag is matched in (shown_text): markers
                // such as `sensitivity` and `classification` are
                // not walked around by width, invisible characters
                // or another case either.
                HeaderTest::Equals(v) => {
                    crate::shown_text::normalize(value) == crate::shown_text::normalize(v)
                }
                HeaderTest::Contains(v) if case_sensitive => value.contains(v.as_str()),
                HeaderTest::Contains(v) => {
                    crate::shown_text::normalize(value).contains(&crate::shown_text::normalize(v))
                }
                // Built just above; a failure cannot reach here.
                HeaderTest::Matches(p) => p.regex().is_ok_and(|r| r.is_match(value)),
            }
        }))
    }

    /// Whether the body reaches the test's threshold of hits; the count is
    /// computed once per test and mail, however many recipients ask.
    fn body_holds(&self, test: &BodyTest) -> Result<bool, FactError> {
        for p in &test.regexes {
            p.regex()?;
        }
        self.content_seen()?;
        let key = std::ptr::from_ref(test) as usize;
        let cached = self.scans.borrow().get(&key).copied();
        let hits = match cached {
            Some(hits) => hits,
            None => {
                let counts = self
                    .keyword_counts
                    .get_or_init(|| self.keywords.count(self.message.keyword_text()));
                let hits = body_hits(test, counts, self.message.text());
                self.scans.borrow_mut().insert(key, hits);
                hits
            }
        };
        Ok(hits >= test.threshold)
    }

    /// The host fact a fact condition asks, about this recipient or sender.
    fn fact(&self, kind: &FactKind) -> Fact {
        match kind {
            FactKind::RecipientHas(method) => Fact::RecipientHas {
                recipient: self.recipient.to_owned(),
                method: *method,
            },
            FactKind::RecipientTls(profile) => Fact::RecipientTls {
                recipient: self.recipient.to_owned(),
                profile: profile.clone(),
            },
            FactKind::SenderHas(method) => Fact::SenderHas {
                sender: self.sender.clone(),
                method: *method,
            },
            FactKind::InboundSignatureValid => Fact::InboundSignatureValid,
        }
    }
}

fn mime_matches(pattern: &str, mime: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(major) => mime.split('/').next() == Some(major),
        None => pattern == mime,
    }
}

fn attachments_hold(test: &AttachmentTest, message: &Message) -> bool {
    let selected: Vec<_> = message
        .attachments()
        .iter()
        .filter(|a| test.larger_than.is_none_or(|n| a.size > n))
        .filter(|a| {
            test.mime_types.is_empty()
                || test
                    .mime_types
                    .iter()
                    .any(|p| mime_matches(p, &a.mime_type))
        })
        .filter(|a| {
            test.extensions.is_empty()
                || a.name.as_deref().is_some_and(|n| {
                    n.rsplit_once('.').is_some_and(|(_, ext)| {
                        test.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext))
                    })
                })
        })
        .filter(|a| {
            test.name_regex.as_ref().is_none_or(|p| {
                // Built before the call (see `holds`).
                a.name
                    .as_deref()
                    .is_some_and(|n| p.regex().is_ok_and(|r| r.is_match(n)))
            })
        })
        .collect();
    let count = selected.len() as u64;
    let total: u64 = selected.iter().map(|a| a.size).sum();
    let min = test.count_min.unwrap_or(u64::from(
        test.has_filter() || test.count_max.is_none() && test.total_size_over.is_none(),
    ));
    count >= min
        && test.count_max.is_none_or(|max| count <= max)
        && test.total_size_over.is_none_or(|n| total > n)
}

/// Keyword occurrences (from the policy-wide scan) plus regex matches.
pub(crate) fn body_hits(test: &BodyTest, counts: &[u64], text: &str) -> u64 {
    let mut hits: u64 = test
        .keyword_ids
        .iter()
        .map(|&id| counts.get(id).copied().unwrap_or(0))
        .sum();
    for pattern in &test.regexes {
        if hits >= test.threshold {
            break;
        }
        // Built before the call (see `holds`).
        let Ok(regex) = pattern.regex() else { continue };
        for _ in regex.find_iter(text) {
            hits += 1;
            if hits >= test.threshold {
                break;
            }
        }
    }
    hits
}

impl Policy {
    /// Evaluates the policy for every recipient of a mail.
    ///
    /// Host facts are asked through `facts` only when a rule's conditions
    /// reach them, and at most once per call, however many recipients ask.
    ///
    /// ```
    /// use rule_engine::{Action, Direction, Envelope, Message, Policy, StaticFacts};
    /// let (policy, _warnings) = Policy::parse(r#"
    ///     [[rules]]
    ///     id = "confidential"
    ///     when = { subject_tag = "[vertraulich]" }
    ///     then = { encrypt = "required", fallback = "password-pdf" }
    ///
    ///     [default]
    ///     then = { deliver = true }
    /// "#, "example.toml")?;
    /// let message = Message::parse(b"Subject: [Vertraulich] Akte\r\n\r\nText\r\n");
    /// let envelope = Envelope::new(Direction::Outbound, "a@behoerde.example", ["b@partner.example"]);
    /// let result = policy.evaluate(&envelope, &message, &StaticFacts::default());
    /// let bob = &result.recipients[0];
    /// assert_eq!(bob.decided_by.as_deref(), Some("confidential"));
    /// assert!(bob.outcome.has(Action::FallbackPasswordPdf)); // no certificate, no key
    /// # Ok::<(), rule_engine::Error>(())
    /// ```
    pub fn evaluate(
        &self,
        envelope: &Envelope,
        message: &Message,
        facts: &dyn FactSource,
    ) -> Evaluation {
        self.evaluate_with(envelope, message, facts, Detail::Full)
    }

    /// [`Policy::evaluate`] with a choice of trace detail. The outcomes
    /// are the same; [`Detail::Decisions`] leaves out the rules that did not
    /// match or were not tried and the conditions of those that matched,
    /// which makes evaluation of large policies much cheaper. Gateways use
    /// it for every mail; `explain` and policy tests use [`Detail::Full`].
    pub fn evaluate_with(
        &self,
        envelope: &Envelope,
        message: &Message,
        facts: &dyn FactSource,
        detail: Detail,
    ) -> Evaluation {
        let cache = FactCache::new(facts);
        let scans = RefCell::new(HashMap::new());
        let keyword_counts = OnceCell::new();
        let plans = Plans::default();
        let memo = RefCell::new(vec![0u8; self.rule_count()]);
        let sender = address_key(&envelope.sender);
        let mut seen = std::collections::HashSet::new();
        let recipients = envelope
            .recipients
            .iter()
            .map(|r| address_key(r))
            .filter(|r| seen.insert(r.clone()))
            .map(|recipient| {
                let subject = Subject {
                    envelope,
                    message,
                    sender: sender.clone(),
                    recipient: &recipient,
                    sender_domain: domain_of(&sender),
                    recipient_domain: domain_of(&recipient),
                    internal: &self.internal_domains,
                    facts: &cache,
                    scans: &scans,
                    keyword_counts: &keyword_counts,
                    keywords: &self.keywords,
                    record: detail == Detail::Full,
                    memo: &memo,
                };
                self.decide(&subject, &plans)
            })
            .collect();
        Evaluation { recipients }
    }

    /// The rules tried for `recipient`, in order, and the trace of
    /// overrides.
    /// The plan for `recipient`, shared with every recipient to whom the
    /// same scopes apply (most recipients of a mail share a handful).
    fn plan<'p>(&'p self, recipient: &str, plans: &Plans<'p>) -> Rc<Plan<'p>> {
        let key: Vec<usize> = self
            .scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.applies_to(recipient))
            .map(|(i, _)| i)
            .collect();
        if let Some(plan) = plans.borrow().get(&key) {
            return plan.clone();
        }
        let applicable: Vec<&Scope> = key.iter().filter_map(|&i| self.scopes.get(i)).collect();
        let (candidates, overrides) = self.candidates(applicable);
        let plan = Rc::new(Plan {
            candidates,
            overrides,
            reachable: OnceCell::new(),
        });
        plans.borrow_mut().insert(key, plan.clone());
        plan
    }

    fn candidates<'p>(
        &'p self,
        applicable: Vec<&'p Scope>,
    ) -> (Vec<Candidate<'p>>, Vec<TraceStep>) {
        let mut applicable = applicable;
        // Most specific first; groups share a rank; domains rank by pattern.
        let rank = |s: &Scope| -> (u8, usize) {
            match &s.kind {
                crate::syntax::ScopeKind::Domain(d) => (s.level(), d.specificity()),
                _ => (s.level(), 0),
            }
        };
        applicable.sort_by_key(|s| std::cmp::Reverse(rank(s)));
        let mut tiers: Vec<(u8, usize)> = applicable.iter().map(|s| rank(s)).collect();
        tiers.dedup();
        let tier_of = |s: &Scope| tiers.iter().position(|t| *t == rank(s)).unwrap_or(0);

        let mut trace = Vec::new();
        // The most specific definition of each id: its tier, scope name, and
        // whether it only disables. Scopes come most specific first, so the
        // first definition seen is the one that counts.
        let mut defined: HashMap<&str, (usize, &str, bool)> = HashMap::new();
        let mut normal = Vec::new();
        let mut enforced = Vec::new();
        for scope in &applicable {
            let tier = tier_of(scope);
            for rule in &scope.rules {
                let first = *defined
                    .entry(&rule.id)
                    .or_insert((tier, scope.name(), rule.disable));
                // Enforced rules cannot be overridden (validation refuses
                // such policies; this keeps evaluation safe regardless).
                if first.0 < tier && !rule.enforced {
                    let by = first.1.to_owned();
                    trace.push(TraceStep {
                        scope: scope.name().to_owned(),
                        rule: Some(rule.id.clone()),
                        event: if first.2 {
                            TraceEvent::Disabled { by }
                        } else {
                            TraceEvent::Overridden { by }
                        },
                    });
                    continue;
                }
                if rule.disable {
                    continue;
                }
                let candidate = Candidate { scope, rule, tier };
                if rule.enforced {
                    enforced.push(candidate);
                } else {
                    normal.push(candidate);
                }
            }
        }
        // Enforced rules: general before specific, ahead of everything.
        enforced.sort_by_key(|c| std::cmp::Reverse(c.tier));
        let offset = tiers.len();
        let mut ordered: Vec<Candidate<'_>> = enforced
            .into_iter()
            .map(|c| Candidate {
                tier: offset + (offset - c.tier),
                ..c
            })
            .collect();
        ordered.extend(normal);
        (ordered, trace)
    }

    fn decide<'p>(&'p self, subject: &Subject<'_>, plans: &Plans<'p>) -> RecipientDecision {
        let recipient = subject.recipient.to_owned();
        match self.try_decide(subject, plans) {
            Ok(decision) => decision,
            Err((error, mut trace)) => {
                trace.push(TraceStep {
                    scope: "host".to_owned(),
                    rule: None,
                    event: TraceEvent::Deferred {
                        reason: error.message.clone(),
                    },
                });
                let mut outcome = Outcome {
                    reason: Some(format!("host fact unavailable: {}", error.message)),
                    ..Outcome::default()
                };
                outcome.add(Action::Defer);
                RecipientDecision {
                    address: recipient,
                    outcome,
                    decided_by: None,
                    trace,
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn try_decide<'p>(
        &'p self,
        subject: &Subject<'_>,
        plans: &Plans<'p>,
    ) -> Result<RecipientDecision, (FactError, Vec<TraceStep>)> {
        let plan = self.plan(subject.recipient, plans);
        let mut trace = plan.overrides.clone();
        let candidates = if subject.record {
            &plan.candidates
        } else {
            plan.reachable(subject)
        };
        let mut effects = Effects::default();
        // (decision, rule id, scope name, tier)
        let mut decided: Option<(&Decision, &str, &str, usize)> = None;
        for c in candidates {
            let scope_name = c.scope.name();
            let terminal = c.rule.then.decision.as_ref();
            if let (Some(_), Some((_, by, scope, tier))) = (terminal, &decided)
                && !(*tier == c.tier && *scope != scope_name)
            {
                if !subject.record {
                    continue;
                }
                trace.push(TraceStep {
                    scope: scope_name.to_owned(),
                    rule: Some(c.rule.id.clone()),
                    event: TraceEvent::Skipped {
                        decided_by: (*by).to_owned(),
                    },
                });
                continue;
            }
            let mut checks = Vec::new();
            let memo = (!subject.record && !c.rule.per_recipient)
                .then(|| subject.memo.borrow().get(c.rule.index).copied())
                .flatten()
                .filter(|m| *m != 0);
            let matched = match (&c.rule.when, memo) {
                (None, _) => true,
                (Some(_), Some(m)) => m == 2,
                (Some(condition), None) => match subject.holds(condition, &mut checks) {
                    Ok(m) => {
                        if !c.rule.per_recipient
                            && let Some(slot) = subject.memo.borrow_mut().get_mut(c.rule.index)
                        {
                            *slot = if m { 2 } else { 1 };
                        }
                        m
                    }
                    Err(e) => return Err((e, trace)),
                },
            };
            if !matched && !subject.record {
                continue;
            }
            trace.push(TraceStep {
                scope: scope_name.to_owned(),
                rule: Some(c.rule.id.clone()),
                event: if matched {
                    TraceEvent::Matched { conditions: checks }
                } else {
                    TraceEvent::NotMatched { conditions: checks }
                },
            });
            if !matched {
                continue;
            }
            match (terminal, &decided) {
                (None, _) => effects.add(c.rule, scope_name, &mut trace),
                (Some(d), None) => {
                    trace.push(TraceStep {
                        scope: scope_name.to_owned(),
                        rule: Some(c.rule.id.clone()),
                        event: TraceEvent::Decided {
                            decision: d.name().to_owned(),
                        },
                    });
                    effects.add(c.rule, scope_name, &mut trace);
                    decided = Some((d, &c.rule.id, scope_name, c.tier));
                }
                (Some(d), Some((current, by, _, _))) => {
                    let standing = "both scopes have equal standing";
                    let (winner, loser, note) = match d.protection().cmp(&current.protection()) {
                        std::cmp::Ordering::Greater => (
                            c.rule.id.clone(),
                            (*by).to_owned(),
                            format!(
                                "{} is more protective than {}; {standing}",
                                d.name(),
                                current.name()
                            ),
                        ),
                        std::cmp::Ordering::Less => (
                            (*by).to_owned(),
                            c.rule.id.clone(),
                            format!(
                                "{} is more protective than {}; {standing}",
                                current.name(),
                                d.name()
                            ),
                        ),
                        std::cmp::Ordering::Equal => (
                            (*by).to_owned(),
                            c.rule.id.clone(),
                            format!(
                                "{} and {} are equally protective; {standing}, so the first in scope order keeps the decision",
                                current.name(),
                                d.name()
                            ),
                        ),
                    };
                    let replace = winner == c.rule.id;
                    trace.push(TraceStep {
                        scope: scope_name.to_owned(),
                        rule: Some(c.rule.id.clone()),
                        event: TraceEvent::Conflict {
                            winner,
                            loser,
                            note,
                        },
                    });
                    if replace {
                        effects.add(c.rule, scope_name, &mut trace);
                        decided = Some((d, &c.rule.id, scope_name, c.tier));
                    }
                }
            }
        }
        let decided_by = decided.as_ref().map(|(_, by, _, _)| (*by).to_owned());
        let decision = decided.map(|(d, _, _, _)| d);
        let outcome = resolve(decision, &self.default, &effects, subject, &mut trace)
            .map_err(|e| (e, trace.clone()))?;
        Ok(RecipientDecision {
            address: subject.recipient.to_owned(),
            outcome,
            decided_by,
            trace,
        })
    }
}

fn note(trace: &mut Vec<TraceStep>, text: String) {
    trace.push(TraceStep {
        scope: "outcome".to_owned(),
        rule: None,
        event: TraceEvent::Resolution { note: text },
    });
}

/// Turns the decision and effects into actions, asking facts as needed.
///
/// Without a deciding rule, the policy's `[default]` decides: there is no
/// implicit "deliver" (fail closed at configuration).
fn resolve(
    decision: Option<&Decision>,
    default: &Decision,
    effects: &Effects,
    subject: &Subject<'_>,
    trace: &mut Vec<TraceStep>,
) -> Result<Outcome, FactError> {
    let mut outcome = Outcome {
        header_edits: effects.header_edits.clone(),
        notify_template: effects.notify.clone(),
        ..Outcome::default()
    };
    let decision = match decision {
        Some(decision) => decision,
        None => {
            note(
                trace,
                format!(
                    "no terminal rule matched: the policy's [default] decides ({})",
                    default.name()
                ),
            );
            default
        }
    };
    match decision {
        Decision::Deliver => outcome.add(Action::Deliver),
        Decision::Block(reason) => {
            outcome.add(Action::Block);
            outcome.reason = Some(reason.clone());
        }
        Decision::Quarantine(reason) => {
            outcome.add(Action::Quarantine);
            outcome.reason = reason.clone();
        }
        Decision::RequireTls(profile) => {
            outcome.add(Action::Deliver);
            match &effects.whitelist {
                Some(by) => note(
                    trace,
                    format!(
                        "whitelist from {by} lifts the TLS requirement ({profile}) for this recipient"
                    ),
                ),
                None => {
                    outcome.add(Action::RequireTls);
                    outcome.tls_profile = Some(profile.clone());
                }
            }
        }
        Decision::Encrypt {
            required,
            methods,
            fallback,
        } => resolve_encryption(
            *required,
            methods,
            fallback.as_ref(),
            subject,
            &mut outcome,
            trace,
        )?,
    }
    if outcome.has(Action::Deliver) {
        if let Some((sign, rule)) = &effects.sign {
            resolve_signature(sign, rule, subject, &mut outcome, trace)?;
        }
        if effects.whitelist.is_some() && outcome.has(Action::Deliver) {
            outcome.add(Action::Whitelist);
        }
    }
    add_side_effects(effects, subject.envelope.direction, &mut outcome);
    if !outcome.has(Action::Deliver) {
        outcome.header_edits.clear();
    }
    Ok(outcome)
}

/// Blocks the mail for `reason`, dropping every other action and the chosen
/// encryption and TLS terms; the sender is told.
fn block(outcome: &mut Outcome, reason: String) {
    outcome.actions.clear();
    outcome.add(Action::Block);
    outcome.add(Action::NotifySender);
    outcome.reason = Some(reason);
    outcome.encryption_method = None;
    outcome.tls_profile = None;
}

/// An `encrypt` decision: the first method the recipient has a key for,
/// else the fallback, else blocked (required) or sent as it is (if
/// possible).
fn resolve_encryption(
    required: bool,
    methods: &[Method],
    fallback: Option<&Fallback>,
    subject: &Subject<'_>,
    outcome: &mut Outcome,
    trace: &mut Vec<TraceStep>,
) -> Result<(), FactError> {
    let mut chosen = None;
    for method in methods {
        let fact = Fact::RecipientHas {
            recipient: subject.recipient.to_owned(),
            method: *method,
        };
        if subject.facts.get(&fact).0? {
            chosen = Some(*method);
            break;
        }
    }
    match (chosen, fallback) {
        (Some(method), _) => {
            note(
                trace,
                format!(
                    "encrypt with {}: the recipient has a key for it",
                    method.as_str()
                ),
            );
            outcome.add(Action::Encrypt);
            outcome.add(Action::Deliver);
            outcome.encryption_method = Some(method);
        }
        (None, Some(Fallback::PasswordPdf)) => {
            note(
                trace,
                "no certificate or key for the recipient: fallback password-pdf".to_owned(),
            );
            outcome.add(Action::FallbackPasswordPdf);
            outcome.add(Action::Deliver);
        }
        (None, Some(Fallback::PasswordZip)) => {
            note(
                trace,
                "no certificate or key for the recipient: fallback password-zip".to_owned(),
            );
            outcome.add(Action::FallbackPasswordZip);
            outcome.add(Action::Deliver);
        }
        (None, Some(Fallback::Block)) => {
            note(
                trace,
                "no certificate or key for the recipient and the fallback is block".to_owned(),
            );
            block(
                outcome,
                "encryption required but the recipient has no certificate or key".to_owned(),
            );
        }
        (None, None) if required => {
            note(
                trace,
                "no certificate or key for the recipient and no fallback: blocked (fail closed)"
                    .to_owned(),
            );
            block(
                outcome,
                "encryption required but the recipient has no certificate or key".to_owned(),
            );
        }
        (None, None) => {
            note(
                trace,
                "no certificate or key for the recipient: encryption was only if possible"
                    .to_owned(),
            );
            outcome.add(Action::Deliver);
        }
    }
    Ok(())
}

/// A `sign` effect on mail that is delivered: the first method the sender
/// has a key for; without one, blocked when the signature is required.
fn resolve_signature(
    sign: &SignSpec,
    rule: &str,
    subject: &Subject<'_>,
    outcome: &mut Outcome,
    trace: &mut Vec<TraceStep>,
) -> Result<(), FactError> {
    let mut chosen = None;
    for method in &sign.methods {
        let fact = Fact::SenderHas {
            sender: subject.sender.clone(),
            method: *method,
        };
        if subject.facts.get(&fact).0? {
            chosen = Some(*method);
            break;
        }
    }
    match chosen {
        Some(method) => {
            outcome.add(Action::Sign);
            outcome.signing_method = Some(method);
        }
        None if sign.required => {
            note(
                trace,
                format!(
                    "{rule} requires a signature but the sender has no signing key: blocked (fail closed)"
                ),
            );
            block(
                outcome,
                "signature required but the sender has no signing key".to_owned(),
            );
        }
        None => note(
            trace,
            format!("{rule} asks for a signature if possible; the sender has no signing key"),
        ),
    }
    Ok(())
}

/// The effects that do not depend on delivery: notify and archive, and on
/// inbound mail decrypt and harvest.
fn add_side_effects(effects: &Effects, direction: Direction, outcome: &mut Outcome) {
    if effects.notify.is_some() {
        outcome.add(Action::NotifySender);
    }
    if effects.archive {
        outcome.add(Action::Archive);
    }
    if direction == Direction::Inbound {
        if effects.decrypt {
            outcome.add(Action::Decrypt);
        }
        if effects.harvest {
            outcome.add(Action::HarvestKeys);
        }
    }
}

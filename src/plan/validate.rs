//! Stage two of reading a plan: from the raw YAML structs to a checked [`Plan`].
//!
//! Every problem is collected with its position (from [`PositionIndex`]) rather than returned at
//! the first, so an operator fixes a plan in one round trip.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::interpolate::{interpolate, is_single_reference_without_default};
use super::position::{PositionIndex, child_index, child_key};
use super::raw::*;
use super::*;
use crate::aws::arn::MskClusterArn;

/// Every key the plan format knows, for "did you mean" hints on unknown keys.
const KNOWN_KEYS: &[&str] = &[
    "name",
    "state_dir",
    "source",
    "target",
    "replication",
    "readiness",
    "apps",
    "msk",
    "bootstrap_servers",
    "replicator_bootstrap_servers",
    "cluster_id",
    "tls",
    "properties",
    "replicator_auth",
    "app_auth",
    "enabled",
    "ca_file",
    "verify_hostname",
    "mechanism",
    "username",
    "password",
    "env",
    "file",
    "secret_arn",
    "backend",
    "topics",
    "groups",
    "starting_position",
    "target_compression",
    "bidirectional",
    "regex",
    "max_message_lag",
    "max_replication_latency_ms",
    "max_sum_offset_lag",
    "sustained_for",
    "expected_consumer_group_count",
    "produces",
    "consumes",
    "transactional_ids",
    "auth",
    "stop",
    "start",
    "group",
    "region",
    "cluster_arn",
    "service_execution_role_arn",
    "security_group_ids",
    "subnet_ids",
    "scram_secret_arn",
    "certificate_secret_arn",
    "scram_mechanism",
    "secret_kms_key_arn",
    "log_delivery",
    "cloudwatch_logs_group",
    "s3_bucket",
    "s3_prefix",
    "firehose_delivery_stream",
    "consumer_group_offset_sync_mode",
    "endpoint_url",
    "replicator_names",
    "external_to_msk",
    "msk_to_external",
    "engine",
    "listen",
    "acls",
    "principal_map",
    "admin_auth",
    "role_arn",
];

const MAX_REPLICATOR_NAME: usize = 128;

pub(super) fn parse(file: &Path, text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Plan, Vec<Problem>> {
    let index = PositionIndex::build(text).map_err(|error| {
        if error.limit {
            return vec![Problem {
                path: String::new(),
                line: error.position.line,
                column: error.position.column,
                message: format!("the plan is too complex to read: {}", error.message),
                hint: Some(
                    "a plan nests a few levels and its keys are short words: see the plan reference in README.md"
                        .into(),
                ),
            }];
        }
        // libyaml (inside serde_yaml) words syntax errors better, naming where an unclosed
        // construct started; use its message when it has one.
        let (message, position) = match serde_yaml::from_str::<serde_yaml::Value>(text) {
            Err(serde_error) => {
                let position = serde_error.location().map(|l| Position { line: l.line(), column: l.column() });
                (without_first_location(&serde_error.to_string()), position.unwrap_or(error.position))
            }
            Ok(_) => (error.message.clone(), error.position),
        };
        vec![Problem {
            path: String::new(),
            line: position.line,
            column: position.column,
            message: format!("malformed YAML: {message}"),
            hint: Some("check indentation, brackets and quoting up to this position".into()),
        }]
    })?;
    let mut validator = Validator {
        index: &index,
        lookup,
        base_dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        problems: Vec::new(),
    };
    if text.trim().is_empty() {
        validator.problem("", "the plan is empty", Some("write an example with `migrate init`"));
        return Err(validator.problems);
    }

    // A value of the wrong type stops serde at the first one. Each such value that is a plain
    // scalar is reported, blanked out (`~`, padded so every position stays) and the document
    // read again, so the type errors and every other problem come in one listing.
    let mut repaired = std::borrow::Cow::Borrowed(text);
    let mut type_errors = Vec::new();
    let raw = loop {
        let mut unknown = Vec::new();
        let deserializer = serde_yaml::Deserializer::from_str(&repaired);
        let raw: Result<RawPlan, _> = serde_ignored::deserialize(deserializer, |path| unknown.push(path_text(&path)));
        match raw {
            Ok(raw) => {
                for path in unknown {
                    validator.unknown_field(&path);
                }
                break raw;
            }
            Err(error) => {
                validator.serde_error(&error);
                let blanked = error
                    .location()
                    .and_then(|l| byte_index(&repaired, l.line(), l.column()))
                    .and_then(|index| blank_scalar(&repaired, index));
                match blanked {
                    Some(next) if type_errors.len() < MAX_TYPE_ERRORS => {
                        let location = error.location().map(|l| (l.line(), l.column()));
                        type_errors.extend(location);
                        repaired = std::borrow::Cow::Owned(next);
                    }
                    _ => {
                        for path in unknown {
                            validator.unknown_field(&path);
                        }
                        validator.problems.sort_by_key(|problem| (problem.line, problem.column));
                        return Err(validator.problems);
                    }
                }
            }
        }
    };
    let plan = validator.plan(file, raw);
    // A blanked value is reported once, as the type error, not again as missing or empty.
    let mut seen_type_error = std::collections::HashSet::new();
    validator.problems.retain(|problem| {
        let at = (problem.line, problem.column);
        !type_errors.contains(&at)
            || problem.hint.as_deref().is_some_and(|h| h.starts_with("fix this value's type"))
                && seen_type_error.insert(at)
    });
    if !type_errors.is_empty() {
        validator.problems.sort_by_key(|problem| (problem.line, problem.column));
        return Err(validator.problems);
    }
    match plan {
        Some(plan) if validator.problems.is_empty() => Ok(plan),
        _ => {
            validator.problems.sort_by_key(|problem| (problem.line, problem.column));
            Err(validator.problems)
        }
    }
}

/// How many values of the wrong type are reported before reading stops.
const MAX_TYPE_ERRORS: usize = 32;

/// The byte index of 1-based `line` and `column` (in characters) in `text`.
fn byte_index(text: &str, line: usize, column: usize) -> Option<usize> {
    let line_start = if line <= 1 { 0 } else { text.match_indices('\n').nth(line - 2)?.0 + 1 };
    let offset = text[line_start..].char_indices().nth(column.checked_sub(1)?)?.0;
    Some(line_start + offset)
}

/// `text` with the plain scalar starting at byte `index` replaced by `~` and spaces (the same
/// length: positions after it do not move), or `None` when no plain scalar starts there.
fn blank_scalar(text: &str, index: usize) -> Option<String> {
    let rest = text.get(index..)?;
    let first = rest.chars().next()?;
    if "{}[],&*!|>'\"%@`#-?:~\n\r \t".contains(first) {
        return None;
    }
    let in_flow = text[..index].rfind(['{', '[', '\n']).is_some_and(|at| text.as_bytes()[at] != b'\n');
    let mut end = rest.find(['\n', '\r']).unwrap_or(rest.len());
    if let Some(comment) = rest[..end].find(" #") {
        end = comment;
    }
    if in_flow && let Some(flow_end) = rest[..end].find([',', ']', '}']) {
        end = flow_end;
    }
    if end == 0 {
        return None;
    }
    Some(format!("{}~{}{}", &text[..index], " ".repeat(end - 1), &rest[end..]))
}

/// Drops the first " at line L column C" of a serde_yaml message: the position is printed
/// separately. Later ones (", while parsing a flow sequence at line 24 column 11") stay.
fn without_first_location(text: &str) -> String {
    let Some(start) = text.find(" at line ") else { return text.to_string() };
    let rest = &text[start + " at line ".len()..];
    let end = rest
        .find(" column ")
        .map(|c| c + " column ".len())
        .map(|c| c + rest[c..].find(|ch: char| !ch.is_ascii_digit()).unwrap_or(rest.len() - c))
        .unwrap_or(0);
    format!("{}{}", &text[..start], &rest[end..])
}

/// serde_ignored's path in this module's `a.b[1].c` form (`?` segments of `Option`s dropped).
fn path_text(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => child_index(&path_text(parent), *index),
        P::Map { parent, key } => child_key(&path_text(parent), key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => path_text(parent),
    }
}

struct Validator<'a> {
    index: &'a PositionIndex,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    base_dir: PathBuf,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn problem(&mut self, path: &str, message: impl Into<String>, hint: Option<&str>) {
        let position = self.index.locate(path);
        self.problem_at(path, position, message, hint);
    }

    fn problem_at(&mut self, path: &str, position: Position, message: impl Into<String>, hint: Option<&str>) {
        self.problems.push(Problem {
            path: path.to_string(),
            line: position.line,
            column: position.column,
            message: message.into(),
            hint: hint.map(str::to_string),
        });
    }

    fn unknown_field(&mut self, path: &str) {
        let key = path.rsplit('.').next().unwrap_or(path);
        let hint = closest_known_key(key)
            .map(|known| format!("did you mean `{known}`? (see the plan reference in README.md)"))
            .unwrap_or_else(|| "remove it; the plan reference in README.md lists every field".to_string());
        // The key itself, not its value, is what is wrong: point at the key.
        self.problem_at(path, self.index.locate_key(path), format!("unknown field `{key}`"), Some(&hint));
    }

    fn serde_error(&mut self, error: &serde_yaml::Error) {
        let message = without_first_location(&error.to_string());
        let (line, column) = error.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        self.problems.push(Problem {
            path: String::new(),
            line,
            column,
            message,
            hint: Some("fix this value's type; the plan reference in README.md gives each field's form".into()),
        });
    }

    fn missing(&mut self, path: &str, hint: Option<&str>) {
        let key = path.rsplit('.').next().unwrap_or(path).to_string();
        // Reported at the key of the mapping that lacks it (`source:`), or 1:1 for the root.
        let parent = path.rfind('.').map(|cut| &path[..cut]).unwrap_or("");
        self.problem_at(path, self.index.locate_key(parent), format!("missing field `{key}`"), hint);
    }

    /// Interpolates a string value, reporting a failed expansion at the value.
    fn text(&mut self, path: &str, value: &str) -> Option<String> {
        match interpolate(value, self.lookup) {
            Ok(expanded) => Some(expanded),
            Err(message) => {
                self.problem(path, message, Some("export the variable or give a default with `${NAME:-default}`"));
                None
            }
        }
    }

    fn required_text(&mut self, path: &str, value: &Option<String>, hint: Option<&str>) -> Option<String> {
        match value {
            Some(value) => {
                let expanded = self.text(path, value)?;
                if expanded.trim().is_empty() {
                    self.problem(path, "must not be empty", hint);
                    return None;
                }
                Some(expanded)
            }
            None => {
                self.missing(path, hint);
                None
            }
        }
    }

    fn optional_text(&mut self, path: &str, value: &Option<String>) -> Option<String> {
        value.as_ref().and_then(|value| self.text(path, value)).filter(|text| !text.is_empty())
    }

    fn resolve_path(&self, text: &str) -> PathBuf {
        let path = Path::new(text);
        if path.is_absolute() { path.to_path_buf() } else { self.base_dir.join(path) }
    }

    fn plan(&mut self, file: &Path, raw: RawPlan) -> Option<Plan> {
        let name = self.plan_name(&raw.name);
        let state_dir = self.optional_text("state_dir", &raw.state_dir).map(|text| self.resolve_path(&text));
        let source = self.cluster("source", Side::Source, raw.source.as_ref());
        let target = self.cluster("target", Side::Target, raw.target.as_ref());
        if let (Some(source), Some(target)) = (&source, &target) {
            self.distinct_clusters(source, target);
        }
        let replication = self.replication(raw.replication.as_ref());
        let readiness = self.readiness(raw.readiness.as_ref());
        let apps = self.apps(raw.apps.as_deref(), replication.as_ref().map(|(replication, _)| replication));
        let backend = replication.as_ref().map(|(_, kind)| *kind);
        let bidirectional = replication.as_ref().map(|(r, _)| r.bidirectional);
        // A `tls` section that failed its own validation is reported there, not again here.
        let source_tls_written =
            raw.source.as_ref().is_some_and(|s| s.tls.as_ref().is_some_and(|t| t.enabled != Some(false)));
        let context = MskContext {
            backend,
            name: name.as_deref(),
            source: source.as_ref(),
            target: target.as_ref(),
            bidirectional,
            source_tls_written,
        };
        if let (Some((replication, _)), Some(target)) = (&replication, &target)
            && replication.acls == AclMode::Sync
            && target.admin_auth.is_none()
        {
            self.problem(
                "replication.acls",
                "`sync` creates ACLs on the target, and the plan names no identity allowed to",
                Some("add `target.admin_auth` (a SCRAM user with Alter on the target cluster), or use `acls: check`"),
            );
        }
        let msk = self.msk(raw.msk.as_ref(), &context);
        let engine = self.engine(raw.engine.as_ref());
        let mut target = target?;
        if let Some(msk) = &msk {
            // MSK Replicator's region is the cluster's: IAM tokens are signed for it.
            target.aws_region = Some(msk.region.clone());
        }
        Some(Plan {
            file: file.to_path_buf(),
            name: name?,
            state_dir,
            source: source?,
            target,
            backend: match backend? {
                BackendKind::Embedded => Backend::Embedded,
                BackendKind::Msk => Backend::Msk(Box::new(msk?)),
            },
            replication: replication?.0,
            readiness: readiness?,
            apps: apps?,
            engine: engine?,
        })
    }

    fn engine(&mut self, raw: Option<&RawEngine>) -> Option<EngineSettings> {
        let text = raw
            .and_then(|r| self.optional_text("engine.listen", &r.listen))
            .unwrap_or_else(|| DEFAULT_ENGINE_LISTEN.into());
        match text.parse() {
            Ok(listen) => Some(EngineSettings { listen }),
            Err(_) => {
                self.problem(
                    "engine.listen",
                    format!("`{text}` is not an address:port"),
                    Some("write `127.0.0.1:9464` (port 0 picks a free one)"),
                );
                None
            }
        }
    }

    fn plan_name(&mut self, raw: &Option<String>) -> Option<String> {
        let name = self.required_text(
            "name",
            raw,
            Some("a short name such as `shop-migration`; it names replicators and state"),
        )?;
        let valid_chars = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        // The MSK replicator names are `<name>-external-to-msk` / `<name>-msk-to-external`.
        let longest_suffix = "-external-to-msk".len();
        if !valid_chars || name.len() + longest_suffix > MAX_REPLICATOR_NAME {
            self.problem(
                "name",
                format!("`{name}` is not a valid plan name"),
                Some("use letters, digits and `-`, starting with a letter or digit, at most 112 characters (MSK replicator names derive from it)"),
            );
            return None;
        }
        Some(name)
    }

    fn servers(&mut self, path: &str, raw: &ServerList) -> Option<Vec<String>> {
        let mut servers = Vec::new();
        let mut ok = true;
        if raw.0.is_empty() {
            self.problem(path, "no bootstrap server given", Some("write `host:port`, several separated by commas"));
            return None;
        }
        for (i, server) in raw.0.iter().enumerate() {
            let item_path =
                if self.index.contains(&child_index(path, i)) { child_index(path, i) } else { path.to_string() };
            let Some(expanded) = self.text(&item_path, server) else {
                ok = false;
                continue;
            };
            for address in expanded.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !is_host_port(address) {
                    self.problem(
                        &item_path,
                        format!("`{address}` is not host:port"),
                        Some("write `broker1.example.com:9096` (IPv6 as `[::1]:9092`)"),
                    );
                    ok = false;
                } else {
                    servers.push(address.to_string());
                }
            }
        }
        if ok && servers.is_empty() {
            self.problem(path, "no bootstrap server given", Some("write `host:port`, several separated by commas"));
            return None;
        }
        ok.then_some(servers)
    }

    fn cluster(&mut self, path: &str, side: Side, raw: Option<&RawCluster>) -> Option<Cluster> {
        let Some(raw) = raw else {
            self.missing(path, Some("each plan names a `source` and a `target` cluster"));
            return None;
        };
        let bootstrap_path = child_key(path, "bootstrap_servers");
        let bootstrap_servers = match &raw.bootstrap_servers {
            Some(list) => self.servers(&bootstrap_path, list),
            None => {
                self.missing(&bootstrap_path, Some("the listener the apps use, `host:port[,host:port...]`"));
                None
            }
        };
        let replicator_bootstrap_servers = match &raw.replicator_bootstrap_servers {
            Some(list) => self.servers(&child_key(path, "replicator_bootstrap_servers"), list),
            None => bootstrap_servers.clone(),
        };
        let expected_cluster_id = self.optional_text(&child_key(path, "cluster_id"), &raw.cluster_id);
        let tls = raw.tls.as_ref().and_then(|tls| self.tls(&child_key(path, "tls"), tls)).unwrap_or(None);
        let mut properties = BTreeMap::new();
        for (key, value) in raw.properties.iter().flatten() {
            let property_path = child_key(&child_key(path, "properties"), key);
            if MANAGED_PROPERTIES.contains(&key.as_str()) {
                self.problem(
                    &property_path,
                    format!("`{key}` is set by migrate from the plan and cannot be passed through"),
                    Some("use the cluster's `tls`, `replicator_auth` and `app_auth` fields"),
                );
                continue;
            }
            if let Some(value) = self.text(&property_path, &value.0) {
                properties.insert(key.clone(), value);
            }
        }
        let replicator_auth = self.auth(&child_key(path, "replicator_auth"), raw.replicator_auth.as_ref(), side, true);
        let app_auth = self.auth(&child_key(path, "app_auth"), raw.app_auth.as_ref(), side, true);
        let admin_path = child_key(path, "admin_auth");
        let admin_auth = match (&raw.admin_auth, side) {
            (None, _) => Some(None),
            (Some(_), Side::Source) => {
                self.problem(
                    &admin_path,
                    "`admin_auth` is only read on the target (it creates the synced ACLs there)",
                    Some("move it under `target:`, or remove it"),
                );
                None
            }
            (Some(raw_admin), Side::Target) => match self.auth(&admin_path, Some(raw_admin), side, false) {
                Some(Auth::Scram(scram)) => Some(Some(Auth::Scram(scram))),
                Some(_) => {
                    self.problem(
                        &child_key(&admin_path, "mechanism"),
                        "`admin_auth` creates ACLs and must be a SCRAM identity",
                        Some("use SCRAM-SHA-512 or SCRAM-SHA-256 with a user that has Alter on the cluster"),
                    );
                    None
                }
                None => None,
            },
        };
        let bootstrap_servers = bootstrap_servers?;
        let aws_region = crate::aws::region::region_in_broker_names(&bootstrap_servers);
        Some(Cluster {
            side,
            aws_region,
            bootstrap_servers,
            replicator_bootstrap_servers: replicator_bootstrap_servers?,
            expected_cluster_id,
            tls,
            properties,
            replicator_auth: replicator_auth?,
            app_auth: app_auth?,
            admin_auth: admin_auth?,
        })
    }

    /// `Some(None)` when TLS is disabled, `None` on a problem.
    fn tls(&mut self, path: &str, raw: &RawTls) -> Option<Option<Tls>> {
        if raw.enabled == Some(false) {
            return Some(None);
        }
        let ca_path = child_key(path, "ca_file");
        let ca_file = match self.optional_text(&ca_path, &raw.ca_file) {
            Some(text) => {
                let file = self.resolve_path(&text);
                // Read, not only looked up: a directory or a device named as the CA fails here,
                // not at the first connection.
                if let Err(error) = crate::files::read_bounded(&file, crate::files::MAX_CA_BYTES, "a CA file") {
                    self.problem(
                        &ca_path,
                        format!("cannot use the CA file: {error}"),
                        Some("give the PEM file of the CA that signed the brokers' certificates"),
                    );
                    return None;
                }
                Some(file)
            }
            None => None,
        };
        Some(Some(Tls {
            ca_file,
            verify_hostname: raw.verify_hostname.unwrap_or(true),
            apps: raw.apps.unwrap_or(true),
        }))
    }

    fn auth(&mut self, path: &str, raw: Option<&RawAuth>, side: Side, required: bool) -> Option<Auth> {
        let Some(raw) = raw else {
            if required {
                self.missing(
                    path,
                    Some("give `mechanism` (SCRAM-SHA-512, SCRAM-SHA-256, none) with `username` and `password`"),
                );
            }
            return None;
        };
        let mechanism_path = child_key(path, "mechanism");
        let mechanism = self.required_text(
            &mechanism_path,
            &raw.mechanism,
            Some("SCRAM-SHA-512, SCRAM-SHA-256, AWS_MSK_IAM (target) or none"),
        )?;
        let scram = match mechanism.to_ascii_uppercase().as_str() {
            "SCRAM-SHA-512" => ScramMechanism::Sha512,
            "SCRAM-SHA-256" => ScramMechanism::Sha256,
            "NONE" => {
                self.no_credentials_expected(path, raw, "none");
                return Some(Auth::None);
            }
            "AWS_MSK_IAM" => {
                self.no_credentials_expected(path, raw, "AWS_MSK_IAM");
                if side == Side::Source {
                    self.problem(
                        &mechanism_path,
                        "AWS_MSK_IAM is only for an MSK target",
                        Some("use SCRAM-SHA-512 or SCRAM-SHA-256 on the source"),
                    );
                    return None;
                }
                return Some(Auth::MskIam);
            }
            _ => {
                self.problem(
                    &mechanism_path,
                    format!("unknown mechanism `{mechanism}`"),
                    Some("use SCRAM-SHA-512, SCRAM-SHA-256, AWS_MSK_IAM (target) or none"),
                );
                return None;
            }
        };
        let username = self.credential(&child_key(path, "username"), raw.username.as_ref(), false);
        let password = self.credential(&child_key(path, "password"), raw.password.as_ref(), true);
        Some(Auth::Scram(ScramCredentials {
            mechanism: scram,
            username: username?.expose().to_string(),
            password: password?,
        }))
    }

    fn no_credentials_expected(&mut self, path: &str, raw: &RawAuth, mechanism: &str) {
        for (key, value) in [("username", &raw.username), ("password", &raw.password)] {
            if value.is_some() {
                self.problem(
                    &child_key(path, key),
                    format!("`{key}` is not used with mechanism {mechanism}"),
                    Some("remove it, or choose a SCRAM mechanism"),
                );
            }
        }
    }

    /// Reads a username or password. Passwords may not be literal: they come from an environment
    /// variable (`env`, or a bare `${VAR}`), a file, or (later) an AWS Secrets Manager secret.
    fn credential(&mut self, path: &str, raw: Option<&RawCredential>, secret: bool) -> Option<SecretString> {
        let what = if secret { "password" } else { "username" };
        let Some(raw) = raw else {
            self.missing(path, Some(&format!("read the {what} with `{{ env: VAR }}` or `{{ file: PATH }}`")));
            return None;
        };
        match raw {
            RawCredential::Literal(text) => {
                if secret && !is_single_reference_without_default(text) {
                    self.problem(
                        path,
                        "a literal password is not allowed in the plan",
                        Some("read it from the environment or a file: `password: { env: MIGRATE_SOURCE_PASSWORD }` or `{ file: /run/secrets/source-password }`"),
                    );
                    return None;
                }
                let value = self.text(path, text)?;
                if value.is_empty() {
                    self.problem(path, format!("the {what} is empty"), None);
                    return None;
                }
                self.single_line(path, &value, what)?;
                Some(SecretString::new(value))
            }
            RawCredential::From(source) => self.credential_from(path, source, what),
        }
    }

    fn credential_from(&mut self, path: &str, source: &RawCredentialSource, what: &str) -> Option<SecretString> {
        if source.secret_arn.is_some() {
            self.problem(
                &child_key(path, "secret_arn"),
                "reading credentials from AWS Secrets Manager is not yet available",
                Some("use `env` or `file` for now"),
            );
            return None;
        }
        if source.env.is_none() && source.file.is_none() {
            self.problem(
                path,
                format!("say where to read the {what} from"),
                Some("give `env: VAR`, `file: PATH`, or both (the variable wins when set)"),
            );
            return None;
        }
        if let Some(variable) = &source.env
            && let Some(value) = (self.lookup)(variable).filter(|value| !value.is_empty())
        {
            self.single_line(&child_key(path, "env"), &value, what)?;
            return Some(SecretString::new(value));
        }
        // The variable's name and the file's path are printed only when they look like a name
        // or a path: a password written in their place must not be echoed into a terminal or a
        // CI log.
        let variable = source.env.as_deref().map(|name| {
            if looks_like_variable_name(name) {
                format!("environment variable `{name}`")
            } else {
                "the environment variable `env` names (not shown: it does not look like a variable name)".to_string()
            }
        });
        let Some(file) = &source.file else {
            let variable = variable.unwrap_or_default();
            self.problem(
                &child_key(path, "env"),
                format!("{variable} is not set"),
                Some(&format!("export it, or add `file:` to read the {what} from a file")),
            );
            return None;
        };
        let file_path = child_key(path, "file");
        let file_text = self.text(&file_path, file)?;
        let resolved = self.resolve_path(&file_text);
        let shown = if file_text.contains('/') {
            resolved.display().to_string()
        } else {
            "the file `file` names (not shown: it does not look like a path)".to_string()
        };
        match crate::files::read_text_bounded(&resolved, crate::files::MAX_SECRET_BYTES, "a credential file") {
            Ok(content) => {
                let value = content.trim_end_matches(['\n', '\r']).to_string();
                if value.is_empty() {
                    self.problem(&file_path, format!("{shown} is empty"), None);
                    return None;
                }
                self.single_line(&file_path, &value, what)?;
                Some(SecretString::new(value))
            }
            Err(error) => {
                let unset = variable.map(|v| format!("{v} is not set and ")).unwrap_or_default();
                let cause = if file_text.contains('/') { error.to_string() } else { error_without_path(&error) };
                self.problem(
                    &file_path,
                    format!("{unset}cannot read the {what}: {cause}"),
                    Some(
                        "for the local clusters run `scripts/local-clusters.sh up`, which writes the credential files",
                    ),
                );
                None
            }
        }
    }

    /// A credential is one line: a line break would pass here and then break the client
    /// configuration file written at `configure`, in the middle of a move.
    fn single_line(&mut self, path: &str, value: &str, what: &str) -> Option<()> {
        if value.contains(['\n', '\r']) {
            self.problem(
                path,
                format!("the {what} contains a line break"),
                Some("a credential is one line; a trailing line break is ignored, one inside is not"),
            );
            return None;
        }
        Some(())
    }

    fn distinct_clusters(&mut self, source: &Cluster, target: &Cluster) {
        let source_servers: HashSet<&String> = source.bootstrap_servers.iter().collect();
        if target.bootstrap_servers.iter().any(|server| source_servers.contains(server)) {
            self.problem(
                "target.bootstrap_servers",
                "the target lists a bootstrap server of the source",
                Some("source and target must be two different clusters"),
            );
        }
        if let (Some(a), Some(b)) = (&source.expected_cluster_id, &target.expected_cluster_id)
            && a == b
        {
            self.problem(
                "target.cluster_id",
                format!("source and target expect the same cluster ID `{a}`"),
                Some("source and target must be two different clusters"),
            );
        }
    }

    fn replication(&mut self, raw: Option<&RawReplication>) -> Option<(Replication, BackendKind)> {
        let Some(raw) = raw else {
            self.missing(
                "replication",
                Some("say what to replicate: `replication: { backend: embedded, topics: [...] }`"),
            );
            return None;
        };
        let backend = match self.optional_text("replication.backend", &raw.backend).as_deref() {
            None | Some("embedded") => Some(BackendKind::Embedded),
            Some("msk") => Some(BackendKind::Msk),
            Some(other) => {
                self.problem(
                    "replication.backend",
                    format!("unknown backend `{other}`"),
                    Some("use `embedded` or `msk`"),
                );
                None
            }
        };
        let topics = match &raw.topics {
            Some(list) if !list.is_empty() => Some(self.selectors("replication.topics", list, "topic")),
            _ => {
                self.missing("replication.topics", Some("list topic names, or `{regex: \"orders\\\\..*\"}`"));
                None
            }
        };
        let groups = match &raw.groups {
            Some(list) => Some(self.selectors("replication.groups", list, "group")),
            None => Some(Vec::new()),
        };
        let starting_position = match self
            .optional_text("replication.starting_position", &raw.starting_position)
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("earliest") => Some(StartingPosition::Earliest),
            Some("latest") => Some(StartingPosition::Latest),
            Some(other) => {
                self.problem(
                    "replication.starting_position",
                    format!("unknown starting position `{other}`"),
                    Some("use `earliest` (recommended: no data loss) or `latest`"),
                );
                None
            }
        };
        let target_compression = match self
            .optional_text("replication.target_compression", &raw.target_compression)
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("none") => Some(Compression::None),
            Some("gzip") => Some(Compression::Gzip),
            Some("snappy") => Some(Compression::Snappy),
            Some("lz4") => Some(Compression::Lz4),
            Some("zstd") => Some(Compression::Zstd),
            Some(other) => {
                self.problem(
                    "replication.target_compression",
                    format!("unknown compression `{other}`"),
                    Some(&format!("use one of {}", Compression::NAMES.join(", "))),
                );
                None
            }
        };
        let acls = match self.optional_text("replication.acls", &raw.acls).map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("check") => Some(AclMode::Check),
            Some("sync") => Some(AclMode::Sync),
            Some("off") => Some(AclMode::Off),
            Some(other) => {
                self.problem(
                    "replication.acls",
                    format!("unknown ACL mode `{other}`"),
                    Some("use `check` (compare, fail when missing), `sync` (create the missing ones) or `off`"),
                );
                None
            }
        };
        let mut principal_map = BTreeMap::new();
        for (from, to) in raw.principal_map.iter().flatten() {
            let entry_path = child_key("replication.principal_map", from);
            let mut valid = true;
            for principal in [from, to] {
                if !is_principal(principal) {
                    self.problem(
                        &entry_path,
                        format!("`{principal}` is not a Kafka principal"),
                        Some("write `User:NAME`, as `kafka-acls --allow-principal` takes it"),
                    );
                    valid = false;
                }
            }
            if valid {
                principal_map.insert(from.clone(), to.clone());
            }
        }
        let replication = Replication {
            acls: acls?,
            principal_map,
            topics: topics?,
            groups: groups?,
            starting_position: starting_position?,
            target_compression: target_compression?,
            bidirectional: raw.bidirectional.unwrap_or(true),
        };
        Some((replication, backend?))
    }

    /// The selectors that are valid; problems with the others are recorded (and fail the plan),
    /// while the valid ones still serve the apps' cross-checks in the same pass.
    fn selectors(&mut self, path: &str, raw: &[RawSelector], what: &str) -> Vec<Selector> {
        let mut selectors = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, item) in raw.iter().enumerate() {
            let item_path = child_index(path, i);
            let (key, selector) = match item {
                RawSelector::Name(name) => {
                    let Some(name) = self.text(&item_path, name) else {
                        continue;
                    };
                    if !is_valid_kafka_name(&name) {
                        self.problem(&item_path, format!("`{name}` is not a valid {what} name"), Some("names use letters, digits, `.`, `_` and `-`, at most 249 characters; write `{regex: ...}` for a pattern"));
                        continue;
                    }
                    (name.clone(), Selector::Name(name))
                }
                RawSelector::Pattern(pattern) => {
                    let regex_path = child_key(&item_path, "regex");
                    let Some(text) = self.required_text(
                        &regex_path,
                        &pattern.regex,
                        Some("a regular expression matching whole names"),
                    ) else {
                        continue;
                    };
                    match regex::Regex::new(&format!("^(?:{text})$")) {
                        Ok(regex) => (format!("/{text}/"), Selector::Regex(regex)),
                        Err(error) => {
                            let detail = error.to_string();
                            let last = detail.lines().last().unwrap_or("invalid").trim().to_string();
                            self.problem(
                                &regex_path,
                                format!("invalid regex `{text}`: {last}"),
                                Some("the syntax is Rust's `regex` crate (like RE2): no look-around or backreferences"),
                            );
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = seen.insert(key.clone(), i) {
                self.problem(
                    &item_path,
                    format!("duplicate {what} `{key}` (also at {path}[{first}])"),
                    Some("list each once"),
                );
                continue;
            }
            selectors.push(selector);
        }
        selectors
    }

    fn readiness(&mut self, raw: Option<&RawReadiness>) -> Option<Readiness> {
        let default = RawReadiness::default();
        let raw = raw.unwrap_or(&default);
        let mut ok = true;
        let mut bounded = |this: &mut Self,
                           path: &str,
                           value: Option<u64>,
                           default: u64,
                           range: std::ops::RangeInclusive<u64>,
                           unit: &str|
         -> u64 {
            let value = value.unwrap_or(default);
            if !range.contains(&value) {
                this.problem(
                    path,
                    format!("{value} is out of range"),
                    Some(&format!("use {} to {} {unit}", range.start(), range.end())),
                );
                ok = false;
            }
            value
        };
        let max_message_lag =
            bounded(self, "readiness.max_message_lag", raw.max_message_lag, 1_000, 0..=1_000_000_000, "records");
        let latency_ms = bounded(
            self,
            "readiness.max_replication_latency_ms",
            raw.max_replication_latency_ms,
            10_000,
            1..=3_600_000,
            "milliseconds",
        );
        let max_sum_offset_lag =
            bounded(self, "readiness.max_sum_offset_lag", raw.max_sum_offset_lag, 1_000, 0..=1_000_000_000, "records");
        let expected_consumer_group_count = raw.expected_consumer_group_count;
        let sustained_for = match &raw.sustained_for {
            None => Some(Duration::from_secs(60)),
            Some(text) => {
                let parsed = self.text("readiness.sustained_for", text).map(|t| parse_duration(&t));
                match parsed {
                    Some(Ok(duration))
                        if duration >= Duration::from_secs(1) && duration <= Duration::from_secs(24 * 3600) =>
                    {
                        Some(duration)
                    }
                    Some(Ok(_)) => {
                        self.problem(
                            "readiness.sustained_for",
                            format!("`{text}` is out of range"),
                            Some("use 1s to 24h"),
                        );
                        None
                    }
                    Some(Err(message)) => {
                        self.problem(
                            "readiness.sustained_for",
                            message,
                            Some("write a duration such as `90s`, `5m` or `1h`"),
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        if !ok {
            return None;
        }
        Some(Readiness {
            max_message_lag,
            max_replication_latency: Duration::from_millis(latency_ms),
            max_sum_offset_lag,
            sustained_for: sustained_for?,
            expected_consumer_group_count,
        })
    }

    fn apps(&mut self, raw: Option<&[RawApp]>, replication: Option<&Replication>) -> Option<Vec<App>> {
        let Some(raw) = raw else {
            self.missing("apps", Some("list the apps to move, each with `name`, `produces` and `consumes`"));
            return None;
        };
        let mut apps = Vec::new();
        let mut ok = true;
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut groups: HashMap<String, String> = HashMap::new();
        for (i, raw_app) in raw.iter().enumerate() {
            let path = child_index("apps", i);
            let (name, app) = self.app(&path, raw_app, replication);
            if let Some(name) = name
                && let Some(first) = names.insert(name.clone(), i)
            {
                self.problem(
                    &child_key(&path, "name"),
                    format!("duplicate app name `{name}` (also apps[{first}])"),
                    Some("each app needs its own name"),
                );
                ok = false;
            }
            let Some(app) = app else {
                ok = false;
                continue;
            };
            for (j, consume) in app.consumes.iter().enumerate() {
                if let Some(owner) = groups.insert(consume.group.clone(), app.name.clone())
                    && owner != app.name
                {
                    self.problem(
                        &child_key(&child_index(&child_key(&path, "consumes"), j), "group"),
                        format!("group `{}` is already consumed by app `{owner}`", consume.group),
                        Some("a group belongs to one app, which moves with its offsets"),
                    );
                    ok = false;
                }
            }
            apps.push(app);
        }
        ok.then_some(apps)
    }

    /// The app's name (when readable, for the duplicate check) and the app when it is valid.
    fn app(&mut self, path: &str, raw: &RawApp, replication: Option<&Replication>) -> (Option<String>, Option<App>) {
        let name = self.required_text(
            &child_key(path, "name"),
            &raw.name,
            Some("the app's name, used by `migrate cutover NAME`"),
        );
        let app = self.app_body(path, raw, replication, name.clone());
        (name, app)
    }

    fn app_body(
        &mut self,
        path: &str,
        raw: &RawApp,
        replication: Option<&Replication>,
        name: Option<String>,
    ) -> Option<App> {
        let (produces, every_produced_topic_valid) = self.app_produces(path, raw, replication);
        let consumes = self.app_consumes(path, raw, replication);
        let transactional_ids = self.app_transactional_ids(path, raw, &produces);
        let produces_or_consumes = self.app_produces_or_consumes(path, raw);
        let (source_auth, target_auth) = self.app_auths(path, raw)?;
        // Hooks are shell commands and are not interpolated: the shell expands their variables
        // when the hook runs, with `MIGRATE_APP` and the other hook variables set, and `$$` stays
        // the shell's own.
        let stop = raw.stop.clone().filter(|hook| !hook.trim().is_empty());
        let start = raw.start.clone().filter(|hook| !hook.trim().is_empty());
        let role_arn = self.app_role_arn(path, raw);
        if !every_produced_topic_valid || !produces_or_consumes {
            return None;
        }
        Some(App {
            name: name?,
            produces,
            consumes: consumes?,
            transactional_ids: transactional_ids?,
            source_auth,
            target_auth,
            role_arn: role_arn?,
            stop,
            start,
        })
    }

    /// `produces`: the topics that could be read, each to be replicated, and whether every one
    /// is valid (a topic that is not replicated is still listed, for the transactional check).
    fn app_produces(&mut self, path: &str, raw: &RawApp, replication: Option<&Replication>) -> (Vec<String>, bool) {
        let mut ok = true;
        let mut produces = Vec::new();
        for (i, topic) in raw.produces.iter().flatten().enumerate() {
            let topic_path = child_index(&child_key(path, "produces"), i);
            let Some(topic) = self.text(&topic_path, topic) else {
                ok = false;
                continue;
            };
            if let Some(replication) = replication
                && !replication.replicates_topic(&topic)
            {
                self.problem(
                    &topic_path,
                    format!("topic `{topic}` is produced by this app but not replicated"),
                    Some("add it to `replication.topics`, or the app's records would stay behind when it moves"),
                );
                ok = false;
            }
            produces.push(topic);
        }
        (produces, ok)
    }

    /// `consumes`, every entry checked.
    fn app_consumes(&mut self, path: &str, raw: &RawApp, replication: Option<&Replication>) -> Option<Vec<Consume>> {
        let mut ok = true;
        let mut consumes = Vec::new();
        for (i, raw_consume) in raw.consumes.iter().flatten().enumerate() {
            let consume_path = child_index(&child_key(path, "consumes"), i);
            match self.app_consume(&consume_path, raw_consume, replication) {
                Some(consume) => consumes.push(consume),
                None => ok = false,
            }
        }
        ok.then_some(consumes)
    }

    /// One entry of `consumes`: a group whose offsets are synced, reading topics that are replicated.
    fn app_consume(&mut self, path: &str, raw: &RawConsume, replication: Option<&Replication>) -> Option<Consume> {
        let group_path = child_key(path, "group");
        let group = self.required_text(&group_path, &raw.group, Some("the consumer group's id"))?;
        let mut ok = true;
        if let Some(replication) = replication
            && !replication.syncs_group(&group)
        {
            self.problem(
                &group_path,
                format!("group `{group}` is consumed by this app but its offsets are not synced"),
                Some("add it to `replication.groups`, or the app would restart from the wrong position after a move"),
            );
            ok = false;
        }
        let topics_path = child_key(path, "topics");
        let topics = match &raw.topics {
            Some(topics) if !topics.is_empty() => topics,
            _ => {
                self.missing(&topics_path, Some("the topics this group reads"));
                return None;
            }
        };
        let mut consumed = Vec::new();
        for (j, topic) in topics.iter().enumerate() {
            let topic_path = child_index(&topics_path, j);
            let Some(topic) = self.text(&topic_path, topic) else {
                ok = false;
                continue;
            };
            if let Some(replication) = replication
                && !replication.replicates_topic(&topic)
            {
                self.problem(
                    &topic_path,
                    format!("topic `{topic}` is consumed but nobody replicates it"),
                    Some("add it to `replication.topics`"),
                );
                ok = false;
            }
            consumed.push(topic);
        }
        ok.then_some(Consume { group, topics: consumed })
    }

    /// `transactional_ids`, none empty, only for an app that produces.
    fn app_transactional_ids(&mut self, path: &str, raw: &RawApp, produces: &[String]) -> Option<Vec<String>> {
        let mut ok = true;
        let mut transactional_ids = Vec::new();
        for (i, id) in raw.transactional_ids.iter().flatten().enumerate() {
            let id_path = child_index(&child_key(path, "transactional_ids"), i);
            match self.text(&id_path, id) {
                Some(id) if id.trim().is_empty() => {
                    self.problem(&id_path, "must not be empty", Some("the producer's `transactional.id`"));
                    ok = false;
                }
                Some(id) => transactional_ids.push(id),
                None => ok = false,
            }
        }
        if !transactional_ids.is_empty() && produces.is_empty() {
            self.problem(
                &child_key(path, "transactional_ids"),
                "a transactional producer needs topics to produce",
                Some("list them in `produces`"),
            );
            ok = false;
        }
        ok.then_some(transactional_ids)
    }

    /// Whether the app lists topics to produce or groups that consume (a problem when neither).
    fn app_produces_or_consumes(&mut self, path: &str, raw: &RawApp) -> bool {
        if raw.produces.as_ref().is_none_or(Vec::is_empty) && raw.consumes.as_ref().is_none_or(Vec::is_empty) {
            self.problem(
                path,
                "the app neither produces nor consumes",
                Some("give `produces: [topic]` and/or `consumes: [{group, topics}]`"),
            );
            return false;
        }
        true
    }

    /// `auth.source` and `auth.target`, the app's own identities (each `None` when not given);
    /// `None` when a given one is invalid.
    fn app_auths(&mut self, path: &str, raw: &RawApp) -> Option<(Option<Auth>, Option<Auth>)> {
        let Some(auth) = &raw.auth else {
            return Some((None, None));
        };
        let auth_path = child_key(path, "auth");
        let source =
            auth.source.as_ref().map(|a| self.auth(&child_key(&auth_path, "source"), Some(a), Side::Source, false));
        let target =
            auth.target.as_ref().map(|a| self.auth(&child_key(&auth_path, "target"), Some(a), Side::Target, false));
        let source = match source {
            Some(None) => return None,
            given => given.flatten(),
        };
        let target = match target {
            Some(None) => return None,
            given => given.flatten(),
        };
        Some((source, target))
    }

    /// `role_arn`, the IAM role or user the app's clients run as; `Some(None)` when not given.
    fn app_role_arn(&mut self, path: &str, raw: &RawApp) -> Option<Option<String>> {
        match self.optional_text(&child_key(path, "role_arn"), &raw.role_arn) {
            Some(arn) if crate::aws::arn::is_iam_principal_arn(&arn) => Some(Some(arn)),
            Some(arn) => {
                self.problem(
                    &child_key(path, "role_arn"),
                    format!("`{arn}` is not the ARN of an IAM role or user"),
                    Some("write `arn:aws:iam::ACCOUNT:role/NAME` (or `:user/NAME`), the identity the app's clients run as"),
                );
                None
            }
            None => Some(None),
        }
    }

    fn msk(&mut self, raw: Option<&RawMsk>, context: &MskContext<'_>) -> Option<MskSettings> {
        let MskContext { backend, name, source, target, bidirectional, source_tls_written } = *context;
        if backend != Some(BackendKind::Msk) {
            if raw.is_some() {
                self.problem(
                    "msk",
                    "the `msk` section is only used with `replication.backend: msk`",
                    Some("remove it, or set the backend to msk"),
                );
            }
            return None;
        }
        let Some(raw) = raw else {
            self.missing(
                "msk",
                Some("backend msk needs the `msk` section: region, cluster_arn, service_execution_role_arn, …"),
            );
            return None;
        };
        self.msk_clusters(source, target, source_tls_written);
        let region = self.required_text("msk.region", &raw.region, Some("the AWS region, e.g. eu-west-1"));
        let cluster_arn = self.msk_cluster_arn(&raw.cluster_arn, region.as_deref());
        let role = self.arn("msk.service_execution_role_arn", &raw.service_execution_role_arn, ":iam:", ":role/");
        let scram_secret = self.arn("msk.scram_secret_arn", &raw.scram_secret_arn, ":secretsmanager:", ":secret:");
        let certificate_secret = self.msk_certificate_secret(raw, source, &scram_secret);
        let secret_kms_key_arn = match &raw.secret_kms_key_arn {
            Some(_) => self.arn("msk.secret_kms_key_arn", &raw.secret_kms_key_arn, ":kms:", ":key/").map(Some),
            None => Some(None),
        };
        let security_group_ids = self.id_list("msk.security_group_ids", &raw.security_group_ids, "sg-", 1, 16);
        let subnet_ids = self.id_list("msk.subnet_ids", &raw.subnet_ids, "subnet-", 2, 3);
        let scram_mechanism = self.msk_scram_mechanism(raw, source);
        let offset_sync_mode = self.msk_offset_sync_mode(raw, bidirectional);
        let log_delivery = self.log_delivery(raw.log_delivery.as_ref());
        let endpoint_url = self.optional_text("msk.endpoint_url", &raw.endpoint_url);
        let (external_to_msk, msk_to_external) = self.msk_replicator_names(raw, name);
        Some(MskSettings {
            region: region?,
            cluster_arn: cluster_arn?,
            service_execution_role_arn: role?,
            security_group_ids: security_group_ids?,
            subnet_ids: subnet_ids?,
            scram_secret_arn: scram_secret?,
            certificate_secret_arn: certificate_secret?,
            scram_mechanism: scram_mechanism?,
            secret_kms_key_arn: secret_kms_key_arn?,
            log_delivery: log_delivery?,
            external_to_msk_name: external_to_msk,
            msk_to_external_name: msk_to_external,
            offset_sync_mode: offset_sync_mode?,
            endpoint_url,
        })
    }

    /// What backend msk asks of the clusters: an IAM target, the source's ID, TLS to the source.
    fn msk_clusters(&mut self, source: Option<&Cluster>, target: Option<&Cluster>, source_tls_written: bool) {
        if let Some(target) = target
            && target.replicator_auth != Auth::MskIam
        {
            self.problem(
                "target.replicator_auth.mechanism",
                "with backend msk the target is an MSK Express cluster with IAM auth",
                Some("set `mechanism: AWS_MSK_IAM`"),
            );
        }
        if let Some(source) = source {
            if source.expected_cluster_id.is_none() {
                self.missing(
                    "source.cluster_id",
                    Some("MSK Replicator names the external cluster by its ID (`ApacheKafkaClusterId`): what `kafka-cluster.sh cluster-id` prints"),
                );
            }
            if source.tls.is_none() && !source_tls_written {
                self.problem(
                    "source.tls",
                    "with backend msk the replicator reaches the source over TLS (`EncryptionInTransit` TLS)",
                    Some("add `tls: {}` for a publicly trusted certificate, or `tls: { ca_file: ... }` with the private CA chain that is also in the secret's `certificate`"),
                );
            }
        }
    }

    /// `msk.certificate_secret_arn`: the secret holding a private CA (the SCRAM secret when not
    /// named); `Some(None)` when the source's certificates are publicly trusted.
    fn msk_certificate_secret(
        &mut self,
        raw: &RawMsk,
        source: Option<&Cluster>,
        scram_secret: &Option<String>,
    ) -> Option<Option<String>> {
        // A CA file names a private or self-signed CA, which MSK Replicator reads from a secret;
        // without one the brokers' certificates are publicly trusted and it needs none.
        let private_ca = source.and_then(|s| s.tls.as_ref()).is_none_or(|tls| tls.ca_file.is_some());
        match (&raw.certificate_secret_arn, private_ca) {
            (Some(_), true) => self
                .arn("msk.certificate_secret_arn", &raw.certificate_secret_arn, ":secretsmanager:", ":secret:")
                .map(Some),
            (None, true) => scram_secret.clone().map(Some),
            (Some(_), false) => {
                self.problem(
                    "msk.certificate_secret_arn",
                    "a CA secret is for a private or self-signed CA, but `source.tls` names no `ca_file` (publicly trusted certificates, which MSK Replicator needs no CA for)",
                    Some("add `source.tls.ca_file` with that CA chain, or remove `certificate_secret_arn`"),
                );
                None
            }
            (None, false) => Some(None),
        }
    }

    /// `msk.scram_mechanism`, by default the source replicator's.
    fn msk_scram_mechanism(&mut self, raw: &RawMsk, source: Option<&Cluster>) -> Option<ScramMechanism> {
        let default_mechanism = match source.map(|s| &s.replicator_auth) {
            Some(Auth::Scram(scram)) => scram.mechanism,
            _ => ScramMechanism::Sha512,
        };
        match self.optional_text("msk.scram_mechanism", &raw.scram_mechanism).as_deref() {
            None => Some(default_mechanism),
            Some("SCRAM-SHA-512") => Some(ScramMechanism::Sha512),
            Some("SCRAM-SHA-256") => Some(ScramMechanism::Sha256),
            Some(other) => {
                self.problem(
                    "msk.scram_mechanism",
                    format!("unknown SCRAM mechanism `{other}`"),
                    Some("SCRAM-SHA-512 or SCRAM-SHA-256 (what the secret's user has on the source)"),
                );
                None
            }
        }
    }

    /// `msk.consumer_group_offset_sync_mode`; ENHANCED needs the reverse replicator.
    fn msk_offset_sync_mode(&mut self, raw: &RawMsk, bidirectional: Option<bool>) -> Option<OffsetSyncMode> {
        let offset_sync_mode = match self
            .optional_text("msk.consumer_group_offset_sync_mode", &raw.consumer_group_offset_sync_mode)
            .as_deref()
        {
            None | Some("ENHANCED") => Some(OffsetSyncMode::Enhanced),
            Some("LEGACY") => Some(OffsetSyncMode::Legacy),
            Some(other) => {
                self.problem(
                    "msk.consumer_group_offset_sync_mode",
                    format!("unknown offset sync mode `{other}`"),
                    Some("ENHANCED (offsets follow apps both ways; the migration default) or LEGACY"),
                );
                None
            }
        };
        if offset_sync_mode == Some(OffsetSyncMode::Enhanced) && bidirectional == Some(false) {
            self.problem(
                "msk.consumer_group_offset_sync_mode",
                "ENHANCED offset sync needs the reverse replicator, but `replication.bidirectional` is false",
                Some("set `replication.bidirectional: true` (apps can then move back), or use LEGACY"),
            );
        }
        offset_sync_mode
    }

    /// The two replicators' names (`<plan>-external-to-msk`, `<plan>-msk-to-external` unless
    /// named), each valid for MSK and different from the other.
    fn msk_replicator_names(&mut self, raw: &RawMsk, name: Option<&str>) -> (String, String) {
        let names = raw.replicator_names.as_ref();
        let default_name = |suffix: &str| name.map(|n| format!("{n}-{suffix}")).unwrap_or_default();
        let external_to_msk = names
            .and_then(|n| self.optional_text("msk.replicator_names.external_to_msk", &n.external_to_msk))
            .unwrap_or_else(|| default_name("external-to-msk"));
        let msk_to_external = names
            .and_then(|n| self.optional_text("msk.replicator_names.msk_to_external", &n.msk_to_external))
            .unwrap_or_else(|| default_name("msk-to-external"));
        for (path, replicator) in [
            ("msk.replicator_names.external_to_msk", &external_to_msk),
            ("msk.replicator_names.msk_to_external", &msk_to_external),
        ] {
            let valid = replicator.len() <= MAX_REPLICATOR_NAME
                && replicator.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && replicator.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid && !replicator.is_empty() {
                self.problem(
                    path,
                    format!("`{replicator}` is not a valid replicator name"),
                    Some("letters, digits and `-`, at most 128 characters"),
                );
            }
        }
        if !external_to_msk.is_empty() && external_to_msk == msk_to_external {
            self.problem(
                "msk.replicator_names.msk_to_external",
                format!("both replicators are named `{external_to_msk}`"),
                Some("give the two directions different names"),
            );
        }
        (external_to_msk, msk_to_external)
    }

    fn msk_cluster_arn(&mut self, raw: &Option<String>, region: Option<&str>) -> Option<String> {
        let text = self.arn("msk.cluster_arn", raw, ":kafka:", ":cluster/")?;
        let Some(cluster) = MskClusterArn::parse(&text) else {
            self.problem(
                "msk.cluster_arn",
                format!(
                    "`{text}` is not an MSK cluster ARN (`arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>`)"
                ),
                Some("copy it from `aws kafka list-clusters-v2` or the console"),
            );
            return None;
        };
        if let Some(region) = region
            && cluster.arn.region != region
        {
            self.problem(
                "msk.cluster_arn",
                format!("the cluster is in {}, but `msk.region` is {region}", cluster.arn.region),
                Some("MSK Replicator runs in the target cluster's region: set `msk.region` to it"),
            );
            return None;
        }
        Some(text)
    }

    fn log_delivery(&mut self, raw: Option<&RawLogDelivery>) -> Option<LogDelivery> {
        let Some(raw) = raw else { return Some(LogDelivery::default()) };
        let delivery = LogDelivery {
            cloudwatch_logs_group: self
                .optional_text("msk.log_delivery.cloudwatch_logs_group", &raw.cloudwatch_logs_group),
            s3_bucket: self.optional_text("msk.log_delivery.s3_bucket", &raw.s3_bucket),
            s3_prefix: self.optional_text("msk.log_delivery.s3_prefix", &raw.s3_prefix),
            firehose_delivery_stream: self
                .optional_text("msk.log_delivery.firehose_delivery_stream", &raw.firehose_delivery_stream),
        };
        if delivery.s3_prefix.is_some() && delivery.s3_bucket.is_none() {
            self.problem("msk.log_delivery.s3_prefix", "an S3 prefix without `s3_bucket`", Some("add `s3_bucket`"));
            return None;
        }
        Some(delivery)
    }

    fn arn(&mut self, path: &str, raw: &Option<String>, service: &str, resource: &str) -> Option<String> {
        let arn = self.required_text(path, raw, Some("the resource's full ARN"))?;
        if !arn.starts_with("arn:") || !arn.contains(service) || !arn.contains(resource) {
            self.problem(
                path,
                format!("`{arn}` is not an ARN of the expected kind (`arn:aws{service}…{resource}…`)"),
                Some("copy the ARN from the AWS console or CLI"),
            );
            return None;
        }
        Some(arn)
    }

    fn id_list(
        &mut self,
        path: &str,
        raw: &Option<Vec<String>>,
        prefix: &str,
        min: usize,
        max: usize,
    ) -> Option<Vec<String>> {
        let Some(list) = raw.as_ref().filter(|list| !list.is_empty()) else {
            self.missing(path, Some(&format!("{min} to {max} `{prefix}…` ids")));
            return None;
        };
        if list.len() < min || list.len() > max {
            self.problem(
                path,
                format!("{} id(s) given; MSK Replicator's `VpcConfig` takes {min} to {max}", list.len()),
                None,
            );
            return None;
        }
        let mut ids = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let item_path = child_index(path, i);
            let id = self.text(&item_path, item)?;
            if !id.starts_with(prefix) {
                self.problem(&item_path, format!("`{id}` does not look like a `{prefix}…` id"), None);
                return None;
            }
            ids.push(id);
        }
        Some(ids)
    }
}

/// `replication.backend` as written, before the `msk` section it needs is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackendKind {
    Embedded,
    Msk,
}

/// What the `msk` section is checked against: the rest of the plan, as validated.
#[derive(Clone, Copy)]
struct MskContext<'a> {
    backend: Option<BackendKind>,
    name: Option<&'a str>,
    source: Option<&'a Cluster>,
    target: Option<&'a Cluster>,
    bidirectional: Option<bool>,
    /// The plan has a `source.tls` section (valid or not).
    source_tls_written: bool,
}

/// librdkafka properties the plan's own fields control; passing them through would bypass the
/// separation of the replicator's and the apps' identities.
const MANAGED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
];

/// `Type:name`, as Kafka writes principals (`User:orders-svc`).
fn is_principal(text: &str) -> bool {
    text.split_once(':').is_some_and(|(kind, name)| {
        !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric()) && !name.trim().is_empty()
    })
}

fn is_host_port(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else { return false };
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
}

fn is_valid_kafka_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
}

/// Parses `500ms`, `90s`, `5m`, `1h`, or combinations such as `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration"));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| format!("`{text}` is not a duration"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            "" => return Err(format!("`{text}` needs a unit (ms, s, m, h)")),
            other => return Err(format!("unknown unit `{other}` in `{text}` (use ms, s, m, h)")),
        };
    }
    Ok(total)
}

/// An environment variable's name as people write them: `MIGRATE_SOURCE_PASSWORD`.
fn looks_like_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A file error without the path (for a path that may be a password written in the wrong place).
fn error_without_path(error: &crate::files::FileError) -> String {
    use crate::files::FileError;
    match error {
        FileError::NotFound { .. } => "no such file".into(),
        FileError::NotRegular { kind, .. } => format!("it is {kind}, not a regular file"),
        FileError::TooLarge { limit, what, .. } => format!("it is larger than {limit} bytes (the limit for {what})"),
        FileError::Io { cause, .. } => cause.to_string(),
    }
}

fn closest_known_key(key: &str) -> Option<&'static str> {
    // Two edits away from a known key is at most two characters longer than the longest one;
    // computing the distance to a longer key would only cost time.
    if key.chars().count() > 64 {
        return None;
    }
    KNOWN_KEYS
        .iter()
        .map(|known| (edit_distance(key, known), *known))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("5 minutes").is_err());
    }

    #[test]
    fn host_ports() {
        assert!(is_host_port("127.0.0.1:9092"));
        assert!(is_host_port("b-1.msk.example.com:9098"));
        assert!(is_host_port("[::1]:9092"));
        assert!(!is_host_port("localhost"));
        assert!(!is_host_port("host:99999"));
        assert!(!is_host_port("host:0"));
    }

    #[test]
    fn suggests_close_keys() {
        assert_eq!(closest_known_key("bootstrap_server"), Some("bootstrap_servers"));
        assert_eq!(closest_known_key("zzzzzz"), None);
    }
}

//! `deploy/` validated offline and strictly, no cluster needed:
//!
//! * core kinds (Namespace, ConfigMap, Pod) parse into k8s-openapi types, and any field those
//!   types do not know (a typo, a field of another API version) fails, via `serde_ignored`;
//! * custom resources (NetworkAttachmentDefinition, AdminPolicyBasedExternalRoute, PodMonitor,
//!   PrometheusRule) match the JSON schemas in `deploy/schemas/`, written from the upstream
//!   CRDs; their metadata parses strictly as `ObjectMeta`;
//! * `kustomization.yaml` lists every manifest, and only existing ones;
//! * the ConfigMap's `bfdd.toml` passes `bfdd --check-config`, and the objects agree with each
//!   other (addresses, names, selectors, ports, mounts, capabilities, image tag);
//! * the Pod's probe commands are ones `bfdctl` accepts;
//! * every PromQL expression (alerts, Grafana) uses only metric names and labels bfdd exports.
//!
//! Negative tests show that each check really rejects what it should.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, ensure, Context, Result};
use bfdd_integration::{bfdctl_bin, bfdd_bin, is_ci, workspace_root, TestDir};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// Every metric bfdd exports (without the optional frr_exporter-compatible series).
const EXPORTED_METRICS: &[&str] = &[
    "bfd_session_up",
    "bfd_session_state",
    "bfd_session_state_changes_total",
    "bfd_control_packets_sent_total",
    "bfd_control_packets_received_total",
    "bfd_control_packets_send_errors_total",
    "bfd_packets_dropped_total",
    "bfd_session_detection_time_seconds",
    "bfd_session_tx_interval_seconds",
    "bfd_sessions",
    "bfd_transmit_late_total",
    "bfd_transmit_delay_seconds_bucket",
    "bfd_transmit_delay_seconds_sum",
    "bfd_transmit_delay_seconds_count",
];
/// Labels on bfdd's series, plus those the scrape adds (PodMonitor: namespace, pod, ...).
const KNOWN_LABELS: &[&str] = &[
    "peer",
    "local",
    "interface",
    "multihop",
    "state",
    "to",
    "reason",
    "le",
    "namespace",
    "pod",
    "container",
    "endpoint",
    "job",
    "instance",
];
/// Values of the `state` and `to` labels.
const STATES: &[&str] = &["admin_down", "down", "init", "up"];
/// Values of the `reason` label of `bfd_packets_dropped_total`.
const DROP_REASONS: &[&str] = &["malformed", "ttl", "unknown_session", "auth", "hop_mode"];

/// Custom resources and the schema each is validated against.
const SCHEMAS: &[(&str, &str, &str)] = &[
    (
        "k8s.cni.cncf.io/v1",
        "NetworkAttachmentDefinition",
        "network-attachment-definition.schema.json",
    ),
    (
        "k8s.ovn.org/v1",
        "AdminPolicyBasedExternalRoute",
        "adminpolicybasedexternalroute.schema.json",
    ),
    (
        "monitoring.coreos.com/v1",
        "PodMonitor",
        "podmonitor.schema.json",
    ),
    (
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        "prometheusrule.schema.json",
    ),
];

/// Kinds without a namespace.
const CLUSTER_SCOPED: &[&str] = &["Namespace", "AdminPolicyBasedExternalRoute"];

// ---------------------------------------------------------------------------------------------
// Loading

fn deploy_dir() -> PathBuf {
    workspace_root().join("deploy")
}

/// One YAML document of a file in deploy/.
#[derive(Debug, Clone)]
struct Doc {
    file: String,
    index: usize,
    yaml: serde_yaml::Value,
    json: Value,
}

impl Doc {
    fn name(&self) -> String {
        format!(
            "{}#{} ({} {})",
            self.file,
            self.index,
            self.kind(),
            self.json["metadata"]["name"].as_str().unwrap_or("?")
        )
    }

    fn api_version(&self) -> &str {
        self.json["apiVersion"].as_str().unwrap_or("")
    }

    fn kind(&self) -> &str {
        self.json["kind"].as_str().unwrap_or("")
    }

    fn meta_name(&self) -> &str {
        self.json["metadata"]["name"].as_str().unwrap_or("")
    }
}

/// Every YAML document of `deploy/<file>`. Duplicate keys and non-string keys fail.
fn load_file(file: &str) -> Result<Vec<Doc>> {
    let path = deploy_dir().join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_docs(file, &text)
}

fn parse_docs(file: &str, text: &str) -> Result<Vec<Doc>> {
    let mut docs = Vec::new();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let yaml = serde_yaml::Value::deserialize(de)
            .with_context(|| format!("{file}: document {index} is not valid YAML"))?;
        if yaml.is_null() {
            continue; // an empty document (a trailing ---)
        }
        let json = serde_json::to_value(&yaml)
            .with_context(|| format!("{file}#{index}: not representable as JSON"))?;
        docs.push(Doc {
            file: file.to_string(),
            index,
            yaml,
            json,
        });
    }
    Ok(docs)
}

/// The manifests: every .yaml in deploy/ except kustomization.yaml.
fn manifest_files() -> Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(deploy_dir())? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && name.ends_with(".yaml") && name != "kustomization.yaml" {
            files.push(name);
        }
    }
    files.sort();
    Ok(files)
}

fn all_docs() -> Result<Vec<Doc>> {
    let mut docs = Vec::new();
    for f in manifest_files()? {
        docs.extend(load_file(&f)?);
    }
    Ok(docs)
}

/// The single document of `kind` named `name`.
fn find<'a>(docs: &'a [Doc], kind: &str, name: &str) -> Result<&'a Doc> {
    let found: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.kind() == kind && d.meta_name() == name)
        .collect();
    match found.as_slice() {
        [d] => Ok(d),
        [] => bail!("no {kind} named {name} in deploy/"),
        _ => bail!("{} {kind} objects named {name} in deploy/", found.len()),
    }
}

/// Deserializes `doc` into `T` and fails on any field `T` does not know.
fn strict<T: DeserializeOwned>(value: serde_yaml::Value, what: &str) -> Result<T> {
    let mut ignored = Vec::new();
    let t: T = serde_ignored::deserialize(value, |path| ignored.push(path.to_string()))
        .map_err(|e| anyhow!("{what}: {e}"))?;
    ensure!(ignored.is_empty(), "{what}: unknown fields {ignored:?}");
    Ok(t)
}

/// Kinds of Kubernetes itself (k8s-openapi has their types), as opposed to custom resources.
fn is_core(doc: &Doc) -> bool {
    matches!(
        (doc.api_version(), doc.kind()),
        ("v1", _) | ("networking.k8s.io/v1", "NetworkPolicy")
    )
}

fn strict_core(doc: &Doc) -> Result<()> {
    let what = doc.name();
    match (doc.api_version(), doc.kind()) {
        ("v1", "Namespace") => strict::<Namespace>(doc.yaml.clone(), &what).map(drop),
        ("v1", "ConfigMap") => strict::<ConfigMap>(doc.yaml.clone(), &what).map(drop),
        ("v1", "Pod") => strict::<Pod>(doc.yaml.clone(), &what).map(drop),
        ("networking.k8s.io/v1", "NetworkPolicy") => {
            strict::<NetworkPolicy>(doc.yaml.clone(), &what).map(drop)
        }
        (v, k) => bail!("{what}: {v} {k} is not a core kind this test knows"),
    }
}

fn pod(docs: &[Doc]) -> Result<Pod> {
    let d = find(docs, "Pod", "ext-gw")?;
    strict(d.yaml.clone(), &d.name())
}

fn configmap(docs: &[Doc]) -> Result<ConfigMap> {
    let d = find(docs, "ConfigMap", "bfdd-config")?;
    strict(d.yaml.clone(), &d.name())
}

/// The ConfigMap's bfdd.toml, parsed.
fn bfdd_toml(docs: &[Doc]) -> Result<(String, toml::Table)> {
    let cm = configmap(docs)?;
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get("bfdd.toml"))
        .cloned()
        .context("ConfigMap bfdd-config has no data key bfdd.toml")?;
    let table: toml::Table = text.parse().context("bfdd.toml is not TOML")?;
    Ok((text, table))
}

// ---------------------------------------------------------------------------------------------
// JSON schemas

fn schema_for(doc: &Doc) -> Result<jsonschema::Validator> {
    let Some((_, _, file)) = SCHEMAS
        .iter()
        .find(|(v, k, _)| *v == doc.api_version() && *k == doc.kind())
    else {
        bail!(
            "{}: no schema for {} {} in deploy/schemas/",
            doc.name(),
            doc.api_version(),
            doc.kind()
        );
    };
    let path = deploy_dir().join("schemas").join(file);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))?;
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| anyhow!("{}: invalid schema: {e}", path.display()))
}

/// Schema errors of `value`, one line each (empty when valid).
fn schema_errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn check_custom_resource(doc: &Doc) -> Result<()> {
    let validator = schema_for(doc)?;
    let errors = schema_errors(&validator, &doc.json);
    ensure!(
        errors.is_empty(),
        "{}:\n  {}",
        doc.name(),
        errors.join("\n  ")
    );
    let meta = doc
        .yaml
        .get("metadata")
        .cloned()
        .with_context(|| format!("{}: no metadata", doc.name()))?;
    strict::<ObjectMeta>(meta, &format!("{} metadata", doc.name()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PromQL

/// What an expression refers to.
#[derive(Debug, Default, PartialEq)]
struct PromqlRefs {
    metrics: BTreeSet<String>,
    /// (label, op, value) of every `{...}` matcher.
    matchers: Vec<(String, String, String)>,
    /// Labels of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
    grouping: BTreeSet<String>,
    functions: BTreeSet<String>,
}

const PROMQL_AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const PROMQL_FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_quantile",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log2",
    "log10",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "time",
    "timestamp",
    "vector",
    "year",
];
const PROMQL_KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "Inf", "NaN", "inf", "nan",
];
const PROMQL_GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

/// The string literals of Rust source (plain and raw), as written: enough of a lexer that a
/// quote in a char or byte literal (`'"'`), an escaped quote or a raw string does not put the
/// scan out of step. Comments are not told apart.
fn string_literals(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts_token = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i] == b'\'' {
            // A char literal ('x', '\n', '"'), or a lifetime, which is left alone.
            if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 2;
            }
            i += 1;
        } else if b[i] == b'r' && starts_token && matches!(b.get(i + 1), Some(b'"' | b'#')) {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            let open = i + 1 + hashes;
            if b.get(open) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let body = open + 1;
            let end = b[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| body + p);
            found.push(src[body..end].to_string());
            i = end + close.len();
        } else if b[i] == b'"' {
            let mut text = String::new();
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if let Some(c) = src.get(i..).and_then(|rest| rest.chars().next()) {
                    text.push(c);
                    i += c.len_utf8();
                } else {
                    i += 1;
                }
            }
            found.push(text);
            i += 1;
        } else {
            i += 1;
        }
    }
    found
}

#[test]
fn string_literals_are_found_past_quotes_in_char_literals_and_raw_strings() {
    let src = r##"let a = "bfd_one"; let q = b'"'; let r = r#"x="y""#; let c = '\''; let l: &'static str = "bfd_two\"s";"##;
    assert_eq!(string_literals(src), ["bfd_one", "x=\"y\"", "bfd_two\"s"]);
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Scans a PromQL expression (with Grafana `$variables`) for the metrics, labels and functions
/// it uses. Unknown identifiers are reported as metrics, so that a misspelt function or a
/// metric bfdd does not export both fail the caller's check.
fn promql_refs(expr: &str) -> Result<PromqlRefs> {
    let chars: Vec<char> = expr.chars().collect();
    let mut refs = PromqlRefs::default();
    let mut i = 0;
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    let read_ident = |mut j: usize| {
        let start = j;
        while j < chars.len() && is_ident_char(chars[j]) {
            j += 1;
        }
        (chars[start..j].iter().collect::<String>(), j)
    };
    let read_string = |j: usize| -> Result<(String, usize)> {
        let quote = chars[j];
        let mut k = j + 1;
        let mut s = String::new();
        while k < chars.len() && chars[k] != quote {
            if chars[k] == '\\' && quote != '`' {
                k += 1;
            }
            if k < chars.len() {
                s.push(chars[k]);
            }
            k += 1;
        }
        ensure!(k < chars.len(), "unterminated string in {expr:?}");
        Ok((s, k + 1))
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            i = read_string(i)?.1;
        } else if c == '$' {
            // Grafana variable: $name, ${name}, $__rate_interval.
            i += 1;
            if i < chars.len() && chars[i] == '{' {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                i = read_ident(i).1;
            }
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            // Label matchers: name op "value", ...
            i += 1;
            loop {
                i = skip_ws(i);
                ensure!(i < chars.len(), "unterminated {{ in {expr:?}");
                if chars[i] == '}' {
                    i += 1;
                    break;
                }
                if chars[i] == ',' {
                    i += 1;
                    continue;
                }
                let (name, j) = read_ident(i);
                ensure!(!name.is_empty(), "bad label matcher in {expr:?}");
                i = skip_ws(j);
                let op_start = i;
                while i < chars.len() && "=!~".contains(chars[i]) {
                    i += 1;
                }
                let op: String = chars[op_start..i].iter().collect();
                ensure!(
                    ["=", "!=", "=~", "!~"].contains(&op.as_str()),
                    "bad matcher operator {op:?} in {expr:?}"
                );
                i = skip_ws(i);
                ensure!(
                    i < chars.len() && chars[i] == '"',
                    "matcher value not quoted in {expr:?}"
                );
                let (value, j) = read_string(i)?;
                i = j;
                refs.matchers.push((name, op, value));
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let (ident, j) = read_ident(i);
            i = j;
            let next = skip_ws(i);
            if PROMQL_GROUPING.contains(&ident.as_str()) {
                if next < chars.len() && chars[next] == '(' {
                    let mut k = next + 1;
                    while k < chars.len() && chars[k] != ')' {
                        let kk = skip_ws(k);
                        if kk < chars.len() && is_ident_start(chars[kk]) {
                            let (label, e) = read_ident(kk);
                            refs.grouping.insert(label);
                            k = e;
                        } else {
                            k = kk + 1;
                        }
                    }
                    i = k + 1;
                }
            } else if PROMQL_KEYWORDS.contains(&ident.as_str()) {
            } else if PROMQL_AGGREGATIONS.contains(&ident.as_str())
                || (next < chars.len() && chars[next] == '(')
            {
                refs.functions.insert(ident);
            } else {
                refs.metrics.insert(ident);
            }
        } else {
            i += 1;
        }
    }
    Ok(refs)
}

/// Problems with one expression: unknown metrics, functions, labels or label values.
fn promql_problems(expr: &str) -> Vec<String> {
    let refs = match promql_refs(expr) {
        Ok(r) => r,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    for m in &refs.metrics {
        if !EXPORTED_METRICS.contains(&m.as_str()) {
            problems.push(format!("metric {m} is not exported by bfdd"));
        }
    }
    for f in &refs.functions {
        if !PROMQL_FUNCTIONS.contains(&f.as_str()) && !PROMQL_AGGREGATIONS.contains(&f.as_str()) {
            problems.push(format!("{f} is not a PromQL function"));
        }
    }
    for l in &refs.grouping {
        if !KNOWN_LABELS.contains(&l.as_str()) {
            problems.push(format!("grouping by unknown label {l}"));
        }
    }
    for (label, op, value) in &refs.matchers {
        if !KNOWN_LABELS.contains(&label.as_str()) {
            problems.push(format!("matcher on unknown label {label}"));
        }
        let allowed: &[&str] = match label.as_str() {
            "state" | "to" => STATES,
            "reason" => DROP_REASONS,
            _ => continue,
        };
        if op == "=" && !allowed.contains(&value.as_str()) {
            problems.push(format!("{label}={value:?} is never exported ({allowed:?})"));
        }
    }
    if refs.metrics.is_empty() {
        problems.push("refers to no metric".into());
    }
    problems
}

/// Every `expr` in a Grafana dashboard (panels, nested rows, targets), with where it is.
fn grafana_exprs(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{path}.{k}");
                if k == "expr" {
                    if let Some(s) = child.as_str() {
                        out.push((p, s.to_string()));
                    }
                } else {
                    grafana_exprs(child, &p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                grafana_exprs(child, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn grafana_dashboard() -> Result<Value> {
    let path = deploy_dir().join("grafana-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{} is not JSON", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Tests: structure

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    config_map_generator: Vec<ConfigMapGenerator>,
    #[serde(default)]
    images: Vec<KustomizeImage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigMapGenerator {
    name: String,
    namespace: Option<String>,
    #[serde(default)]
    files: Vec<String>,
    options: Option<GeneratorOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GeneratorOptions {
    disable_name_suffix_hash: Option<bool>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KustomizeImage {
    name: String,
    new_tag: Option<String>,
}

fn kustomization() -> Result<Kustomization> {
    let text = std::fs::read_to_string(deploy_dir().join("kustomization.yaml"))?;
    serde_yaml::from_str(&text).context("kustomization.yaml")
}

#[test]
fn kustomization_lists_every_manifest_and_only_existing_files() -> Result<()> {
    let k = kustomization()?;
    assert_eq!(k.api_version, "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k.kind, "Kustomization");

    let listed: BTreeSet<String> = k.resources.iter().cloned().collect();
    assert_eq!(listed.len(), k.resources.len(), "duplicate resources");
    let on_disk: BTreeSet<String> = manifest_files()?.into_iter().collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml resources != the .yaml files in deploy/"
    );

    // Generated ConfigMaps: the dashboard, and nothing else that is not on disk.
    let mut generated = BTreeSet::new();
    for g in &k.config_map_generator {
        for f in &g.files {
            let file = f.rsplit('=').next().unwrap_or(f);
            assert!(deploy_dir().join(file).is_file(), "{file} does not exist");
            generated.insert(file.to_string());
        }
        assert_eq!(g.namespace.as_deref(), Some("bfdd"), "{}", g.name);
        let opts = g.options.as_ref().context("generator options")?;
        assert_eq!(opts.disable_name_suffix_hash, Some(true));
        assert_eq!(
            opts.labels.get("grafana_dashboard").map(String::as_str),
            Some("1")
        );
    }
    let json_files: BTreeSet<String> = std::fs::read_dir(deploy_dir())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(generated, json_files, "every .json in deploy/ is generated");

    // The image tag follows the workspace version, in the Pod and in the kustomization.
    let version = env!("CARGO_PKG_VERSION");
    let docs = all_docs()?;
    let pod = pod(&docs)?;
    let image = pod.spec.context("pod spec")?.containers[0]
        .image
        .clone()
        .context("image")?;
    assert_eq!(image, format!("localhost/bfdd:{version}"));
    assert!(
        k.images
            .iter()
            .any(|i| i.name == "localhost/bfdd" && i.new_tag.as_deref() == Some(version)),
        "{:?}",
        k.images
    );

    // Rendered by kustomize itself when kubectl is installed (it is not a Debian package, so
    // this part is optional): every object once, the dashboard ConfigMap generated.
    if let Ok(out) = Command::new("kubectl")
        .args(["kustomize"])
        .arg(deploy_dir())
        .output()
    {
        ensure!(
            out.status.success(),
            "kubectl kustomize deploy/ failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = parse_docs("kustomize", &String::from_utf8_lossy(&out.stdout))?;
        assert_eq!(rendered.len(), docs.len() + 1, "objects rendered");
        find(&rendered, "ConfigMap", "bfdd-grafana-dashboard")?;
    } else {
        eprintln!("NOTE: kubectl not installed; kustomize rendering not checked");
    }
    Ok(())
}

#[test]
fn core_kinds_parse_strictly_into_k8s_openapi_types() -> Result<()> {
    let docs = all_docs()?;
    let mut kinds = BTreeMap::new();
    for d in docs.iter().filter(|d| is_core(d)) {
        strict_core(d)?;
        *kinds.entry(d.kind().to_string()).or_insert(0) += 1;
    }
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("ConfigMap".to_string(), 1),
            ("Namespace".to_string(), 2),
            ("NetworkPolicy".to_string(), 1),
            ("Pod".to_string(), 1)
        ])
    );
    Ok(())
}

#[test]
fn custom_resources_match_their_upstream_schemas() -> Result<()> {
    let docs = all_docs()?;
    let mut seen = BTreeSet::new();
    for d in docs.iter().filter(|d| !is_core(d)) {
        check_custom_resource(d)?;
        seen.insert(d.kind().to_string());
    }
    let want: BTreeSet<String> = SCHEMAS.iter().map(|(_, k, _)| k.to_string()).collect();
    assert_eq!(seen, want, "one manifest per custom resource kind");
    Ok(())
}

#[test]
fn namespaces_and_scopes_are_consistent() -> Result<()> {
    let docs = all_docs()?;
    let namespaces: BTreeSet<&str> = docs
        .iter()
        .filter(|d| d.kind() == "Namespace")
        .map(|d| d.meta_name())
        .collect();
    for d in &docs {
        let ns = d.json["metadata"]["namespace"].as_str();
        if CLUSTER_SCOPED.contains(&d.kind()) {
            assert_eq!(ns, None, "{} is cluster-scoped", d.name());
        } else {
            assert_eq!(ns, Some("bfdd"), "{}", d.name());
            assert!(namespaces.contains("bfdd"));
        }
        assert!(!d.meta_name().is_empty(), "{} has no name", d.name());
    }
    // The gateway's namespace allows NET_ADMIN (outside Pod Security baseline).
    let ns = find(&docs, "Namespace", "bfdd")?;
    assert_eq!(
        ns.json["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tests: the objects agree with each other

#[test]
fn network_attachment_is_macvlan_with_static_ips_like_the_frr_setup() -> Result<()> {
    let docs = all_docs()?;
    let nad = find(&docs, "NetworkAttachmentDefinition", "internal-net")?;
    let config: Value = serde_json::from_str(
        nad.json["spec"]["config"]
            .as_str()
            .context("spec.config is not a string")?,
    )
    .context("spec.config is not JSON")?;
    assert_eq!(config["name"], "internal-net");
    assert_eq!(config["cniVersion"], "0.3.1");
    let plugins = config["plugins"].as_array().context("plugins")?;
    let macvlan = plugins
        .iter()
        .find(|p| p["type"] == "macvlan")
        .context("no macvlan plugin")?;
    assert_eq!(macvlan["master"], "breth0");
    assert_eq!(macvlan["mode"], "bridge");
    assert_eq!(macvlan["ipam"]["type"], "static");
    // The plugin whose IPAM consumes the annotation's "ips" must declare the capability.
    assert_eq!(macvlan["capabilities"]["ips"], true);
    let tuning = plugins
        .iter()
        .find(|p| p["type"] == "tuning")
        .context("no tuning plugin")?;
    assert_eq!(tuning["capabilities"]["mac"], true);
    Ok(())
}

#[test]
fn pod_annotations_apbr_and_config_agree() -> Result<()> {
    let docs = all_docs()?;
    let pod = pod(&docs)?;
    let meta = &pod.metadata;
    let ann = meta.annotations.clone().unwrap_or_default();
    let labels = meta.labels.clone().unwrap_or_default();
    let ns = meta.namespace.as_deref().context("pod namespace")?;

    // Multus: internal-net with a static address.
    let nets: Value = serde_json::from_str(
        ann.get("k8s.v1.cni.cncf.io/networks")
            .context("no networks annotation")?,
    )
    .context("networks annotation is not JSON")?;
    let nets = nets
        .as_array()
        .context("networks annotation is not a list")?;
    assert_eq!(nets.len(), 1);
    let nad_name = nets[0]["name"].as_str().context("network name")?;
    find(&docs, "NetworkAttachmentDefinition", nad_name)?;
    let cidr = nets[0]["ips"][0].as_str().context("ips")?;
    let (addr, len) = cidr.split_once('/').context("ips entry is not a CIDR")?;
    let addr: std::net::IpAddr = addr.parse()?;
    let len: u8 = len.parse()?;
    assert!(len <= 32);

    // OVN-Kubernetes annotations (the FRR guide's, in this namespace).
    let network = format!("{ns}/{nad_name}");
    assert_eq!(ann.get("k8s.ovn.org/routing-network"), Some(&network));
    assert_eq!(
        ann.get("k8s.ovn.org/bfd-enabled").map(String::as_str),
        Some("")
    );
    let served = ann
        .get("k8s.ovn.org/routing-namespaces")
        .context("routing-namespaces")?;
    for s in served.split(',') {
        find(&docs, "Namespace", s.trim())?;
    }

    // The AdminPolicyBasedExternalRoute says the same and selects this pod.
    let apbr = docs
        .iter()
        .find(|d| d.kind() == "AdminPolicyBasedExternalRoute")
        .context("no AdminPolicyBasedExternalRoute")?;
    let spec = &apbr.json["spec"];
    assert_eq!(
        spec["from"]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        served.as_str()
    );
    let hops = spec["nextHops"]["dynamic"].as_array().context("dynamic")?;
    assert_eq!(hops.len(), 1);
    let hop = &hops[0];
    assert_eq!(hop["bfdEnabled"], true);
    assert_eq!(hop["networkAttachmentName"], network.as_str());
    assert_eq!(
        hop["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        ns
    );
    for (k, v) in hop["podSelector"]["matchLabels"]
        .as_object()
        .context("podSelector.matchLabels")?
    {
        assert_eq!(labels.get(k).map(String::as_str), v.as_str(), "label {k}");
    }

    // The PodMonitor selects the pod and scrapes its named metrics port.
    let pm = find(&docs, "PodMonitor", "bfdd")?;
    for (k, v) in pm.json["spec"]["selector"]["matchLabels"]
        .as_object()
        .context("selector")?
    {
        assert_eq!(labels.get(k).map(String::as_str), v.as_str(), "label {k}");
    }
    let port_name = pm.json["spec"]["podMetricsEndpoints"][0]["port"]
        .as_str()
        .context("port")?;
    let spec = pod.spec.as_ref().context("pod spec")?;
    let c = &spec.containers[0];
    let port = c
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(port_name))
        .with_context(|| format!("no container port named {port_name}"))?;

    // bfdd.toml: sessions from the static address, metrics on that port, sockets and state in
    // the pod's writable mounts, config where the args point.
    let (_, toml) = bfdd_toml(&docs)?;
    let daemon = toml["daemon"].as_table().context("[daemon]")?;
    let metrics = daemon["metrics-address"].as_str().context("metrics")?;
    assert_eq!(metrics, format!("0.0.0.0:{}", port.container_port));
    let peers = toml["peer"].as_array().context("[[peer]]")?;
    assert!(!peers.is_empty());
    for p in peers {
        assert_eq!(
            p["local-address"].as_str(),
            Some(addr.to_string().as_str()),
            "{p}"
        );
    }
    // Every route goes via a node that is also a BFD peer.
    let peer_addrs: BTreeSet<&str> = peers.iter().filter_map(|p| p["address"].as_str()).collect();
    // And none via the node the pod runs on: that node's pod subnet is the pod's own connected
    // route on eth0, which bfdd leaves alone, so such a route could never be installed. Node
    // addresses are the kind cluster's of the FRR guide.
    let node_address = |node: &str| match node {
        "ovn-control-plane" => Some("172.18.0.3"),
        "ovn-worker" => Some("172.18.0.2"),
        "ovn-worker2" => Some("172.18.0.4"),
        _ => None,
    };
    let home = spec
        .node_selector
        .as_ref()
        .and_then(|s| s.get("kubernetes.io/hostname"))
        .context("the pod is pinned to a node")?;
    let home_address = node_address(home).with_context(|| format!("unknown node {home}"))?;
    for r in toml["route"].as_array().context("[[route]]")? {
        let gw = r["gateway"].as_str().context("gateway")?;
        assert!(peer_addrs.contains(gw), "route via {gw}: not a peer");
        assert_ne!(gw, home_address, "route via the pod's own node {home}");
    }

    let mounts: BTreeMap<&str, &str> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.mount_path.as_str(), m.name.as_str()))
        .collect();
    let volume = |path: &str| -> Result<&k8s_openapi::api::core::v1::Volume> {
        let name = mounts
            .get(path)
            .with_context(|| format!("nothing mounted at {path}"))?;
        spec.volumes
            .iter()
            .flatten()
            .find(|v| v.name == *name)
            .with_context(|| format!("no volume {name}"))
    };
    let socket = daemon["control-socket"]
        .as_str()
        .context("control-socket")?;
    let state = daemon["state-dir"].as_str().context("state-dir")?;
    let socket_dir = Path::new(socket).parent().context("socket dir")?;
    for dir in [socket_dir.to_str().context("utf-8")?, state] {
        assert!(
            volume(dir)?.empty_dir.is_some(),
            "{dir} must be an emptyDir (the root filesystem is read-only)"
        );
    }
    let args = c.args.clone().unwrap_or_default();
    assert_eq!(args, ["--config", "/etc/bfdd/bfdd.toml"]);
    let cm_volume = volume("/etc/bfdd")?;
    assert_eq!(
        cm_volume.config_map.as_ref().map(|c| c.name.as_str()),
        Some("bfdd-config")
    );
    Ok(())
}

/// `/metrics` on the pod's own address: Kubernetes expands `$(POD_IP)` only from a variable
/// defined earlier in the list, and bfdd would otherwise get the literal text and not start.
#[test]
fn metrics_listen_on_the_pod_address_from_the_downward_api() -> Result<()> {
    let docs = all_docs()?;
    let pod = pod(&docs)?;
    let spec = pod.spec.context("spec")?;
    let env = spec.containers[0].env.clone().context("no env")?;
    let at = |name: &str| env.iter().position(|e| e.name == name);
    let pod_ip = at("POD_IP").context("POD_IP not set")?;
    let metrics = at("BFDD_METRICS_ADDRESS").context("BFDD_METRICS_ADDRESS not set")?;
    assert!(pod_ip < metrics, "POD_IP must come before its use");
    let field = env[pod_ip]
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .map(|f| f.field_path.clone());
    assert_eq!(field.as_deref(), Some("status.podIP"));
    assert_eq!(env[metrics].value.as_deref(), Some("$(POD_IP)"));
    Ok(())
}

/// The drain ends, and the routes are withdrawn (at most a second), before the kubelet's
/// SIGKILL: a killed bfdd leaves its routes behind until the pod's network goes.
#[test]
fn shutdown_drain_fits_the_termination_grace() -> Result<()> {
    let docs = all_docs()?;
    let grace = pod(&docs)?
        .spec
        .context("spec")?
        .termination_grace_period_seconds
        .context("terminationGracePeriodSeconds")?;
    let (_, toml) = bfdd_toml(&docs)?;
    let drain = toml["daemon"]["shutdown-drain"]
        .as_str()
        .context("shutdown-drain")?;
    let drain: i64 = drain
        .strip_suffix('s')
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{drain:?}: whole seconds expected here"))?;
    ensure!(drain > 0, "no drain");
    ensure!(drain + 2 <= grace, "drain {drain} s, grace {grace} s");
    Ok(())
}

/// The pod's cluster-network address admits the scrape only: the policy selects the pod,
/// restricts ingress, and opens exactly the metrics port the ConfigMap serves, over TCP.
#[test]
fn cluster_network_admits_only_the_metrics_port() -> Result<()> {
    let docs = all_docs()?;
    let d = find(&docs, "NetworkPolicy", "ext-gw")?;
    let policy: NetworkPolicy = strict(d.yaml.clone(), &d.name())?;
    let spec = policy.spec.context("spec")?;
    let pod_labels = pod(&docs)?.metadata.labels.context("pod labels")?;
    let pod_selector = spec.pod_selector.context("podSelector")?;
    let selector = pod_selector.match_labels.context("matchLabels")?;
    ensure!(!selector.is_empty(), "selects every pod");
    for (k, v) in &selector {
        ensure!(pod_labels.get(k) == Some(v), "{k}={v} is not the pod's");
    }
    ensure!(
        pod_selector.match_expressions.is_none(),
        "expressions not checked"
    );
    ensure!(spec.policy_types == Some(vec!["Ingress".to_string()]));
    let rules = spec.ingress.context("ingress")?;
    let (_, toml) = bfdd_toml(&docs)?;
    let metrics = toml["daemon"]["metrics-address"]
        .as_str()
        .context("metrics-address")?;
    let port: i32 = metrics
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("metrics port")?;
    let open: Vec<(Option<String>, Option<IntOrString>)> = rules
        .iter()
        .flat_map(|r| r.ports.clone().unwrap_or_default())
        .map(|p| (p.protocol, p.port))
        .collect();
    ensure!(
        rules.iter().all(|r| r.ports.is_some()),
        "a rule without ports opens every port"
    );
    assert_eq!(open, [(Some("TCP".into()), Some(IntOrString::Int(port)))]);
    Ok(())
}

#[test]
fn pod_is_unprivileged_with_only_the_capabilities_bfdd_needs() -> Result<()> {
    let docs = all_docs()?;
    let pod = pod(&docs)?;
    let spec = pod.spec.context("spec")?;
    assert_ne!(spec.host_network, Some(true));
    let psc = spec.security_context.context("pod securityContext")?;
    assert_eq!(psc.run_as_non_root, Some(true));
    let uid = psc.run_as_user.context("runAsUser")?;
    assert_ne!(uid, 0);
    assert_eq!(spec.containers.len(), 1);
    let c = &spec.containers[0];
    let sc = c
        .security_context
        .clone()
        .context("container securityContext")?;
    assert_ne!(sc.privileged, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    let caps = sc.capabilities.context("capabilities")?;
    assert_eq!(caps.drop, Some(vec!["ALL".to_string()]));
    let add = caps.add.unwrap_or_default();
    assert_eq!(add, ["NET_ADMIN"]);

    // The image agrees: same user, and bfdd's file capabilities are exactly the added ones
    // (a file capability missing from the container's set makes bfdd fail to execute).
    let containerfile = std::fs::read_to_string(workspace_root().join("container/Containerfile"))?;
    assert!(
        containerfile
            .lines()
            .any(|l| l.trim() == format!("USER {uid}:{uid}")),
        "Containerfile USER is not {uid}"
    );
    let build = std::fs::read_to_string(workspace_root().join("container/build.sh"))?;
    let default_caps = build
        .lines()
        .find_map(|l| l.trim().strip_prefix("file_caps=${BFDD_FILE_CAPS-"))
        .and_then(|r| r.strip_suffix('}'))
        .context("no file_caps default in build.sh")?;
    let file_caps: Vec<String> = default_caps
        .trim_end_matches("=ep")
        .split(',')
        .map(|c| c.trim_start_matches("cap_").to_ascii_uppercase())
        .collect();
    assert_eq!(file_caps, add, "build.sh file capabilities vs pod.yaml");

    // Small resources, both requests and limits.
    let res = c.resources.clone().context("resources")?;
    for (what, m) in [("requests", res.requests), ("limits", res.limits)] {
        let m = m.with_context(|| format!("no {what}"))?;
        assert!(m.contains_key("cpu") && m.contains_key("memory"), "{what}");
    }
    Ok(())
}

#[test]
fn configmap_bfdd_toml_passes_check_config() -> Result<()> {
    let docs = all_docs()?;
    let (text, _) = bfdd_toml(&docs)?;
    let bin = match bfdd_bin() {
        Ok(b) => b,
        Err(e) if is_ci() => bail!("bfdd does not build: {e}"),
        Err(e) => {
            eprintln!("SKIP configmap_bfdd_toml_passes_check_config: bfdd does not build: {e}");
            return Ok(());
        }
    };
    let dir = TestDir::new("manifests")?;
    let path = dir.join("bfdd.toml");
    std::fs::write(&path, &text)?;
    let out = Command::new(&bin)
        .arg("--check-config")
        .arg(&path)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bfdd --check-config refused the ConfigMap's bfdd.toml:\n{stdout}{stderr}"
    );
    assert!(stdout.contains("ok (3 peers, 2 routes)"), "{stdout}");

    // And the check is real: a typo in a key is refused with file:line: key.
    std::fs::write(&path, text.replace("local-address", "local-adress"))?;
    let out = Command::new(&bin)
        .arg("--check-config")
        .arg(&path)
        .output()?;
    assert!(!out.status.success());
    Ok(())
}

/// `bfdctl ARGS --socket /nonexistent...`: Ok when bfdctl parsed ARGS and then failed only to
/// reach bfdd (exit 2 and "cannot reach"); Err with the usage error otherwise. Clap's usage
/// errors also exit 2, so the two are told apart by stderr.
fn bfdctl_accepts(bin: &Path, args: &[String]) -> Result<()> {
    let out = Command::new(bin)
        .args(args)
        .args(["--socket", "/nonexistent/bfdd-manifests-test.sock"])
        .env_remove("BFDD_SOCKET")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !stderr.contains("Usage:")
            && !stderr.contains("unrecognized subcommand")
            && !stderr.contains("unexpected argument"),
        "bfdctl {args:?} is a usage error:\n{stderr}"
    );
    ensure!(
        out.status.code() == Some(2) && stderr.contains("cannot reach bfdd"),
        "bfdctl {args:?} without a daemon: {:?}, stderr: {stderr}",
        out.status.code()
    );
    // And --help on the same subcommand works (exit 0, usage on stdout).
    let help = Command::new(bin)
        .args(args.iter().take(1))
        .arg("--help")
        .output()?;
    ensure!(help.status.success(), "bfdctl {} --help failed", args[0]);
    Ok(())
}

#[test]
fn probe_commands_are_accepted_by_bfdctl() -> Result<()> {
    let Some(bin) = bfdctl_bin() else {
        if is_ci() {
            bail!("bfdctl does not build (see the NOTE above)");
        }
        eprintln!("SKIP probe_commands_are_accepted_by_bfdctl: bfdctl does not build");
        return Ok(());
    };
    let docs = all_docs()?;
    let pod = pod(&docs)?;
    let c = &pod.spec.context("spec")?.containers[0];
    let mut commands = Vec::new();
    for (what, probe) in [
        ("readinessProbe", &c.readiness_probe),
        ("livenessProbe", &c.liveness_probe),
    ] {
        let cmd = probe
            .as_ref()
            .and_then(|p| p.exec.as_ref())
            .and_then(|e| e.command.clone())
            .with_context(|| format!("{what} is not an exec probe"))?;
        commands.push((what.to_string(), cmd));
    }
    // The alternative the Pod's comments document (bfdctl peers --check ...).
    let text = std::fs::read_to_string(deploy_dir().join("pod.yaml"))?;
    for line in text.lines() {
        let l = line.trim_start();
        if let Some(rest) = l.strip_prefix('#').map(str::trim) {
            if let Some(list) = rest.strip_prefix("command:") {
                let cmd: Vec<String> = serde_json::from_str(list.trim())
                    .with_context(|| format!("commented command {list:?}"))?;
                commands.push(("commented alternative".into(), cmd));
            }
        }
    }
    assert!(commands.len() >= 3, "{commands:?}");
    for (what, cmd) in &commands {
        assert_eq!(
            cmd[0], "/usr/bin/bfdctl",
            "{what}: bfdctl's path in the image"
        );
        bfdctl_accepts(&bin, &cmd[1..]).with_context(|| what.clone())?;
    }
    assert!(commands
        .iter()
        .any(|(_, c)| c[1..] == ["peers", "--check", "--any"]));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tests: metrics

#[test]
fn exported_metric_list_matches_bfdd_source() -> Result<()> {
    // Every file of the metrics module: the series names are string literals there.
    let mut src = String::new();
    for entry in std::fs::read_dir(workspace_root().join("crates/bfdd/src/metrics"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            src.push_str(&std::fs::read_to_string(&path)?);
        }
    }
    let mut in_source = BTreeSet::new();
    for part in string_literals(&src) {
        if part.starts_with("bfd_") && part.chars().all(is_ident_char) {
            in_source.insert(part);
        }
    }
    let listed: BTreeSet<String> = EXPORTED_METRICS.iter().map(|s| s.to_string()).collect();
    assert!(
        listed.is_subset(&in_source),
        "listed but not in crates/bfdd/src/metrics/: {:?}",
        listed.difference(&in_source).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn alert_rules_use_only_exported_metrics() -> Result<()> {
    let docs = all_docs()?;
    let rule = find(&docs, "PrometheusRule", "bfdd")?;
    let mut alerts = BTreeMap::new();
    for g in rule.json["spec"]["groups"].as_array().context("groups")? {
        for r in g["rules"].as_array().context("rules")? {
            let expr = r["expr"].as_str().context("expr")?;
            let name = r["alert"].as_str().context("alert name")?;
            let problems = promql_problems(expr);
            ensure!(problems.is_empty(), "alert {name}: {problems:?}\n{expr}");
            for (k, v) in r["annotations"].as_object().into_iter().flatten() {
                for part in v.as_str().unwrap_or("").split("$labels.").skip(1) {
                    let label: String = part.chars().take_while(|c| is_ident_char(*c)).collect();
                    ensure!(
                        KNOWN_LABELS.contains(&label.as_str()),
                        "alert {name} annotation {k}: unknown label {label}"
                    );
                }
            }
            alerts.insert(name.to_string(), (expr.to_string(), r["for"].clone()));
        }
    }
    // The two the issue asks for.
    let (down, down_for) = &alerts["BfdSessionDown"];
    assert!(down.contains("bfd_session_up == 0"), "{down}");
    assert_eq!(down_for, &json!("30s"));
    // Not for a session shut down on purpose, and not for ever for one whose node OVN no
    // longer runs BFD from.
    assert!(
        down.contains(
            r#"unless on (namespace, pod, peer, local, interface, multihop)
  bfd_session_state{state="admin_down"} == 1"#
        ),
        "{down}"
    );
    // "Was Up within the hour", not "came Up within the hour": a session Up for days that
    // drops is the case the alert is for.
    assert!(
        down.contains(
            r#"and on (namespace, pod, peer, local, interface, multihop)
max_over_time(bfd_session_up[1h]) == 1"#
        ),
        "{down}"
    );
    let (flap, _) = &alerts["BfdSessionFlapping"];
    assert_eq!(
        flap.trim(),
        r#"increase(bfd_session_state_changes_total{to="down"}[10m]) > 3"#
    );
    Ok(())
}

#[test]
fn grafana_dashboard_uses_only_exported_metrics() -> Result<()> {
    let dash = grafana_dashboard()?;
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    let panels = dash["panels"].as_array().context("panels")?;
    let mut ids = BTreeSet::new();
    for p in panels {
        let id = p["id"].as_u64().context("panel id")?;
        assert!(ids.insert(id), "duplicate panel id {id}");
        assert!(p["gridPos"].is_object(), "panel {id} has no gridPos");
        assert!(
            p["targets"].as_array().is_some_and(|t| !t.is_empty()),
            "panel {id} has no query"
        );
    }
    let mut exprs = Vec::new();
    grafana_exprs(&dash["panels"], "panels", &mut exprs);
    assert!(exprs.len() >= panels.len(), "{exprs:?}");
    let mut metrics_used = BTreeSet::new();
    for (path, expr) in &exprs {
        let problems = promql_problems(expr);
        ensure!(problems.is_empty(), "{path}: {problems:?}\n{expr}");
        metrics_used.extend(promql_refs(expr)?.metrics);
    }
    // The panels the issue asks for: state over time, flaps, packet counters, drops by reason.
    for m in [
        "bfd_session_state",
        "bfd_session_state_changes_total",
        "bfd_control_packets_sent_total",
        "bfd_control_packets_received_total",
        "bfd_packets_dropped_total",
    ] {
        assert!(metrics_used.contains(m), "no panel shows {m}");
    }
    // Template variables: label_values(SELECTOR, LABEL).
    for v in dash["templating"]["list"]
        .as_array()
        .context("templating")?
    {
        let Some(q) = v["query"]["query"].as_str().or(v["query"].as_str()) else {
            continue;
        };
        if v["type"] != "query" {
            continue;
        }
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .with_context(|| format!("variable query {q:?}"))?;
        let (selector, label) = inner.rsplit_once(',').context("label_values args")?;
        assert!(KNOWN_LABELS.contains(&label.trim()), "{q}");
        let problems = promql_problems(selector);
        ensure!(problems.is_empty(), "variable {}: {problems:?}", v["name"]);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Negative tests: the checks above reject what they should

fn set_path(v: &mut Value, path: &[&str], new: Value) {
    let mut cur = v;
    for (i, p) in path.iter().enumerate() {
        if i == path.len() - 1 {
            match cur {
                Value::Object(m) => {
                    m.insert((*p).to_string(), new);
                }
                _ => panic!("{path:?}: not an object"),
            }
            return;
        }
        cur = match p.parse::<usize>() {
            Ok(n) => &mut cur[n],
            Err(_) => &mut cur[*p],
        };
    }
}

#[test]
fn strict_parsing_rejects_unknown_core_fields() -> Result<()> {
    let docs = all_docs()?;
    let pod_doc = find(&docs, "Pod", "ext-gw")?;
    for path in [
        &["spec", "containers", "0", "securityContext", "capabilitis"][..],
        &["spec", "containers", "0", "readinessProbe", "exec", "cmd"][..],
        &["metadata", "annotation"][..],
        &["spec", "hostnetwork"][..],
    ] {
        let mut v = pod_doc.json.clone();
        set_path(&mut v, path, json!(true));
        let yaml: serde_yaml::Value = serde_json::from_value(v)?;
        let err = strict::<Pod>(yaml, "pod")
            .expect_err(&format!("unknown field {path:?} accepted"))
            .to_string();
        assert!(err.contains("unknown fields"), "{path:?}: {err}");
    }
    // Wrong types fail too.
    let mut v = pod_doc.json.clone();
    set_path(
        &mut v,
        &["spec", "containers", "0", "ports", "0", "containerPort"],
        json!("3784"),
    );
    assert!(strict::<Pod>(serde_json::from_value(v)?, "pod").is_err());
    let cm = find(&docs, "ConfigMap", "bfdd-config")?;
    let mut v = cm.json.clone();
    set_path(&mut v, &["metadata", "namespce"], json!("bfdd"));
    assert!(strict::<ConfigMap>(serde_json::from_value(v)?, "cm").is_err());
    Ok(())
}

#[test]
fn schemas_reject_unknown_fields_and_wrong_types() -> Result<()> {
    let docs = all_docs()?;
    let cases: &[(&str, &[&str], Value)] = &[
        (
            "NetworkAttachmentDefinition",
            &["spec", "configg"],
            json!("{}"),
        ),
        ("NetworkAttachmentDefinition", &["kind"], json!("Other")),
        (
            "AdminPolicyBasedExternalRoute",
            &["spec", "nextHops", "dynamic", "0", "bfdEnable"],
            json!(true),
        ),
        (
            "AdminPolicyBasedExternalRoute",
            &["spec", "nextHops", "dynamic", "0", "bfdEnabled"],
            json!("true"),
        ),
        (
            "AdminPolicyBasedExternalRoute",
            &["spec", "nextHops", "static"],
            json!([{"ip": "172.18.0.300"}]),
        ),
        (
            "AdminPolicyBasedExternalRoute",
            &["spec", "from", "podSelector"],
            json!({}),
        ),
        (
            "PodMonitor",
            &["spec", "podMetricsEndpoints", "0", "intervall"],
            json!("15s"),
        ),
        (
            "PodMonitor",
            &["spec", "podMetricsEndpoints", "0", "interval"],
            json!("15 seconds"),
        ),
        ("PodMonitor", &["spec", "endpoints"], json!([])),
        (
            "PrometheusRule",
            &["spec", "groups", "0", "rules", "0", "for"],
            json!("half a minute"),
        ),
        (
            "PrometheusRule",
            &["spec", "groups", "0", "rules", "0", "record"],
            json!("both_alert_and_record"),
        ),
        (
            "PrometheusRule",
            &["spec", "groups", "0", "rules", "0", "severity"],
            json!("critical"),
        ),
    ];
    for (kind, path, value) in cases {
        let doc = docs
            .iter()
            .find(|d| d.kind() == *kind)
            .with_context(|| format!("no {kind}"))?;
        let validator = schema_for(doc)?;
        assert!(schema_errors(&validator, &doc.json).is_empty());
        let mut bad = doc.json.clone();
        set_path(&mut bad, path, value.clone());
        assert!(
            !schema_errors(&validator, &bad).is_empty(),
            "{kind}: {path:?} = {value} accepted by the schema"
        );
    }
    // Custom resource metadata is an ObjectMeta, strictly.
    let mut bad = find(&docs, "PodMonitor", "bfdd")?.clone();
    set_path(&mut bad.json, &["metadata", "lables"], json!({}));
    bad.yaml = serde_json::from_value(bad.json.clone())?;
    assert!(check_custom_resource(&bad).is_err());
    Ok(())
}

#[test]
fn promql_checker_flags_unknown_names() {
    let ok = r#"sum by (peer) (rate(bfd_control_packets_sent_total{namespace=~"$namespace", to!="x"}[$__rate_interval])) > 0"#;
    let refs = promql_refs(ok).expect("parses");
    assert_eq!(
        refs.metrics,
        BTreeSet::from(["bfd_control_packets_sent_total".to_string()])
    );
    assert_eq!(refs.grouping, BTreeSet::from(["peer".to_string()]));
    assert!(refs.functions.contains("rate") && refs.functions.contains("sum"));
    assert!(promql_problems(ok).is_empty(), "{:?}", promql_problems(ok));
    let refs = promql_refs(
        "bfd_session_up == 0 and on (namespace, pod) bfd_sessions offset 5m # bfd_nothing",
    )
    .expect("parses");
    assert_eq!(refs.metrics.len(), 2, "{refs:?}");
    for (bad, why) in [
        ("bfd_session_upp == 0", "not exported"),
        ("frr_bfd_peer_state == 0", "not exported"),
        (r#"bfd_session_state{state="UP"}"#, "never exported"),
        (
            r#"bfd_packets_dropped_total{reason="timeout"}"#,
            "never exported",
        ),
        (r#"bfd_session_up{peer_address="x"}"#, "unknown label"),
        ("sum by (node) (bfd_session_up)", "unknown label"),
        (
            "ratee(bfd_control_packets_sent_total[5m])",
            "not a PromQL function",
        ),
        ("vector(1)", "no metric"),
    ] {
        let problems = promql_problems(bad);
        assert!(
            problems.iter().any(|p| p.contains(why)),
            "{bad}: {problems:?}"
        );
    }
}

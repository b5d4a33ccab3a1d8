//! Whether the host routes IPv4 by more than the destination. The batch sender's raw socket
//! gives the kernel only a packet's destination to route by (the source is just written into
//! the header), so with a rule such as `ip rule add from 10.0.2.1 lookup 100` its packets would
//! leave by another path than the session's own socket, and BFD would test the wrong one
//! (RFC 5881 §6), or be dropped by reverse-path filters on the way.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::TryStreamExt;
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use rtnetlink::IpVersion;

/// The kernel's own three rules: (priority, table) of `local`, `main` and `default`.
const DEFAULT_RULES: [(u32, u32); 3] = [(0, 255), (32766, 254), (32767, 253)];

/// The first IPv4 rule that is not one of the kernel's defaults, described; `None` when there
/// are only those.
pub async fn first_policy_rule() -> io::Result<Option<String>> {
    let (connection, handle, _) = rtnetlink::new_connection()?;
    let connection = tokio::spawn(connection);
    let rules: Result<Vec<RuleMessage>, _> = handle
        .rule()
        .get(IpVersion::V4)
        .execute()
        .try_collect()
        .await;
    connection.abort();
    let rules = rules.map_err(|e| io::Error::other(e.to_string()))?;
    Ok(rules.iter().find(|r| !is_default(r)).map(describe))
}

/// Looks for a rule every `every` until one appears, which it leaves in `found` for the driver
/// (which then stops batching); one found at start-up kept batching off from the start.
pub async fn watch(found: Arc<OnceLock<String>>, every: Duration) {
    let mut failing = false;
    loop {
        tokio::time::sleep(every).await;
        match first_policy_rule().await {
            Ok(Some(rule)) => {
                let _ = found.set(rule);
                return;
            }
            Ok(None) => failing = false,
            // Once per failing spell: batching stays on, as nothing says it must stop.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read the IPv4 routing rules; batched transmit stays on without the check");
            }
            Err(_) => {}
        }
    }
}

fn is_default(rule: &RuleMessage) -> bool {
    let h = &rule.header;
    if h.src_len != 0
        || h.dst_len != 0
        || h.tos != 0
        || h.action != RuleAction::ToTable
        || h.flags.contains(RuleFlags::Invert)
    {
        return false;
    }
    let mut priority = 0;
    let mut table = u32::from(h.table);
    for attribute in &rule.attributes {
        match attribute {
            RuleAttribute::Priority(p) => priority = *p,
            RuleAttribute::Table(t) => table = *t,
            // u32::MAX: no suppression, as the kernel reports its own rules.
            RuleAttribute::Protocol(_) | RuleAttribute::SuppressPrefixLen(u32::MAX) => {}
            _ => return false,
        }
    }
    DEFAULT_RULES.contains(&(priority, table))
}

fn describe(rule: &RuleMessage) -> String {
    let mut text = Vec::new();
    for attribute in &rule.attributes {
        match attribute {
            RuleAttribute::Priority(p) => text.push(format!("priority {p}")),
            RuleAttribute::Source(a) => text.push(format!("from {a}/{}", rule.header.src_len)),
            RuleAttribute::Destination(a) => {
                text.push(format!("to {a}/{}", rule.header.dst_len));
            }
            RuleAttribute::FwMark(m) => text.push(format!("fwmark {m:#x}")),
            RuleAttribute::Table(t) => text.push(format!("lookup {t}")),
            _ => {}
        }
    }
    if text.is_empty() {
        format!("{:?}", rule.header)
    } else {
        text.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(table: u32, attributes: Vec<RuleAttribute>) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.table = u8::try_from(table).unwrap_or(0);
        m.header.action = RuleAction::ToTable;
        m.attributes = attributes;
        m
    }

    fn kernel(table: u32, priority: Option<u32>) -> Vec<RuleAttribute> {
        let mut a = vec![
            RuleAttribute::Table(table),
            RuleAttribute::SuppressPrefixLen(u32::MAX),
        ];
        a.extend(priority.map(RuleAttribute::Priority));
        a
    }

    #[test]
    fn only_the_kernels_own_rules_are_default() {
        // As a 6.x kernel reports `ip rule` on a fresh namespace.
        assert!(is_default(&rule(255, kernel(255, None))));
        assert!(is_default(&rule(254, kernel(254, Some(32766)))));
        assert!(is_default(&rule(253, kernel(253, Some(32767)))));
        // `ip rule add from 10.0.2.1 lookup 100`
        let mut from = rule(100, kernel(100, Some(32765)));
        from.header.src_len = 32;
        from.attributes
            .push(RuleAttribute::Source("10.0.2.1".parse().expect("address")));
        assert!(!is_default(&from));
        assert!(
            describe(&from).contains("from 10.0.2.1/32"),
            "{}",
            describe(&from)
        );
        // `ip rule add fwmark 1 lookup main`: same table as a default, another selector.
        let mut mark = rule(254, kernel(254, Some(100)));
        mark.attributes.push(RuleAttribute::FwMark(1));
        assert!(!is_default(&mark));
        // The main table at another priority, or suppressing prefixes, is not the default.
        assert!(!is_default(&rule(254, kernel(254, Some(100)))));
        let mut suppress = rule(254, vec![RuleAttribute::Table(254)]);
        suppress
            .attributes
            .push(RuleAttribute::SuppressPrefixLen(0));
        suppress.attributes.push(RuleAttribute::Priority(32766));
        assert!(!is_default(&suppress));
    }
}

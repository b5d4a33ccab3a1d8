//! `bfdctl routes`: the configured routes and whether each is installed.

use bfd_control::{NexthopStatus, Request, Response, RouteStatus};

use crate::client::{unexpected, Client};
use crate::error::{Error, Status};
use crate::format::Table;
use crate::output::{print, print_json};

/// Options of `bfdctl routes`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the routes as a JSON array (fields: destination, table, installed, nexthops
    /// [gateway, bfd, active], reason).
    #[arg(long)]
    pub json: bool,
}

/// Runs `bfdctl routes`.
pub fn run(client: &Client, args: &Args) -> Result<Status, Error> {
    let routes = match client.ask(&Request::Routes)? {
        Response::Routes { routes } => routes,
        other => return Err(unexpected("routes", &other)),
    };
    if args.json {
        print_json(&routes)?;
    } else {
        print(&table(&routes))?;
    }
    Ok(Status::Success)
}

/// `198.51.100.4[bfd, active]`: the gateway and its flags, if any.
fn nexthop(n: &NexthopStatus) -> String {
    let flags: Vec<&str> = [(n.bfd, "bfd"), (n.active, "active")]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
    if flags.is_empty() {
        n.gateway.clone()
    } else {
        format!("{}[{}]", n.gateway, flags.join(", "))
    }
}

/// The routes as an aligned table.
pub fn table(routes: &[RouteStatus]) -> String {
    let mut t = Table::new(&["DESTINATION", "TABLE", "INSTALLED", "NEXTHOPS", "REASON"]);
    for r in routes {
        let nexthops: Vec<String> = r.nexthops.iter().map(nexthop).collect();
        t.push(vec![
            r.destination.clone(),
            r.table.to_string(),
            if r.installed { "yes" } else { "no" }.to_owned(),
            if nexthops.is_empty() {
                "-".to_owned()
            } else {
                nexthops.join(", ")
            },
            r.reason.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        let routes = vec![
            RouteStatus {
                destination: "10.244.1.0/24".into(),
                table: 254,
                installed: true,
                nexthops: vec![
                    NexthopStatus {
                        gateway: "172.18.0.4".into(),
                        bfd: true,
                        active: true,
                    },
                    NexthopStatus {
                        gateway: "172.18.0.5".into(),
                        bfd: true,
                        active: false,
                    },
                ],
                reason: None,
            },
            RouteStatus {
                destination: "fd00::/64".into(),
                table: 100,
                installed: false,
                nexthops: vec![NexthopStatus {
                    gateway: "2001:db8::4".into(),
                    bfd: false,
                    active: false,
                }],
                reason: Some("no next hop is up".into()),
            },
        ];
        assert_eq!(
            table(&routes),
            "DESTINATION    TABLE  INSTALLED  NEXTHOPS                                  REASON\n\
             10.244.1.0/24  254    yes        172.18.0.4[bfd, active], 172.18.0.5[bfd]  -\n\
             fd00::/64      100    no         2001:db8::4                               no next hop is up\n"
        );
    }
}

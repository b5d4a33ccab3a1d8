//! Integration-test harness for bfdd: real BFD peers (FRR's `bfdd`, BIRD 2, OVN) running inside
//! network namespaces created by the test, joined by veth pairs.
//!
//! Every resource is owned by a guard that cleans up on `Drop`, also when a test panics:
//! [`Netns`] deletes its namespace (killing whatever still runs in it), [`Process`] terminates
//! and reaps its process (SIGTERM, then SIGKILL), [`TestDir`] removes its directory. Declare the
//! topology before the daemons, so that the daemons are dropped first.
//!
//! Tests that need root or a tool call [`require_root_or_skip`] / [`require_tool`] (or the
//! bundled [`require_frr`] / [`require_bird`]) first: outside CI a missing requirement skips
//! the test with a `SKIP` line, with `CI=true` it fails loudly with what to install.
//!
//! Only documentation address ranges are accepted for test links (see
//! [`check_test_prefix`]), and nothing is ever routed out of the namespaces.

mod bfdd;
mod bird;
mod env;
mod frr;
mod netns;
mod ovn;
mod process;
mod routes;
mod wait;

pub use bfdd::{
    bfdctl_bin, bfdd_bin, cargo_build, cargo_build_release, control_exchange, metric, ms_between,
    parse_rfc3339, parse_state_changes, python3, require_bfdd, target_dir, workspace_root, Bfdd,
    BfddAuth, BfddConfig, BfddPeer, StateChange, METRICS_ADDRESS,
};
pub use bird::{
    check_config as bird_check_config, command_line as bird_command_line, parse_bfd_sessions, Bird,
    BirdAuth, BirdConfig, BirdKey, BirdNeighbor, BirdSession,
};
pub use env::{
    is_ci, is_root, require_bird, require_frr, require_realtime_scheduling, require_root_or_skip,
    require_tool, require_tools,
};
pub use frr::{
    command_line as frr_command_line, render_config as frr_render_config, FrrBfdd, FrrPeer,
    FRR_BFDD,
};
pub use netns::{
    check_test_addr, check_test_prefix, veth_pair, Netns, Topology, TopologyBuilder, A_V4, A_V6,
    B_V4, B_V6, NS_PREFIX,
};
pub use ovn::{require_ovn, Ovn, OVN_TOOLS};
pub use process::{Process, TestDir};
pub use routes::{
    route_gateways, route_statuses, shown_routes, sorted, start_bfdd_with_routes,
    write_routes_config, RouteEntry, RouteTopology, RoutesToml, ShownRoute, A_C_V4, A_C_V6, C_V4,
    C_V6,
};
pub use wait::{poll_until, wait_until};

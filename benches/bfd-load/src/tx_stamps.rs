//! Matching the kernel's software transmit stamps of the stamped sender to the sessions whose
//! packets they stamp. The kernel numbers a stamped socket's packets from 0 in the order it
//! takes them (`SOF_TIMESTAMPING_OPT_ID`) and reports each stamp with that number.

use std::collections::VecDeque;

/// A stamped packet whose stamp has not been read yet.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pending {
    number: u32,
    session: usize,
    /// Realtime seconds just before and just after the `sendmmsg` that sent it.
    call: (f64, f64),
}

/// Stamped packets sent and not yet matched, oldest first.
#[derive(Debug, Default)]
pub struct StampMatcher {
    pending: VecDeque<Pending>,
    /// Stamps that matched no packet, or fell outside the call that sent it: non-zero means
    /// the numbering went out of step (a number used by a packet the kernel then refused).
    pub rejected: u64,
}

impl StampMatcher {
    /// Records that one `sendmmsg`, made between `call.0` and `call.1`, sent `sessions`' packets
    /// numbered from `first` on.
    pub fn sent(&mut self, first: u32, sessions: impl Iterator<Item = usize>, call: (f64, f64)) {
        for (k, session) in sessions.enumerate() {
            self.pending.push_back(Pending {
                number: first.wrapping_add(k as u32),
                session,
                call,
            });
        }
    }

    /// Whether stamps are awaited.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// For each stamp (number, realtime seconds), oldest first: the session whose packet it
    /// stamps, and when. Packets passed over lost their stamp and are forgotten. A stamp is
    /// accepted only inside the call that sent its packet, so a numbering out of step by a
    /// packet cannot move a departure by more than that call took.
    pub fn match_stamps(&mut self, stamps: &[(u32, f64)], out: &mut Vec<(usize, f64)>) {
        out.clear();
        for &(number, at) in stamps {
            let mut matched = false;
            while let Some(p) = self.pending.front().copied() {
                // Numbers wrap; "before" is within half the range behind.
                if (number.wrapping_sub(p.number) as i32) < 0 {
                    break;
                }
                self.pending.pop_front();
                if p.number == number {
                    if (p.call.0..=p.call.1).contains(&at) {
                        out.push((p.session, at));
                        matched = true;
                    }
                    break;
                }
            }
            if !matched {
                self.rejected += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(m: &mut StampMatcher, stamps: &[(u32, f64)]) -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        m.match_stamps(stamps, &mut out);
        out
    }

    #[test]
    fn stamps_in_order_go_to_their_sessions() {
        let mut m = StampMatcher::default();
        m.sent(0, [7, 3].into_iter(), (1.0, 1.1));
        m.sent(2, [9].into_iter(), (2.0, 2.1));
        assert_eq!(
            matched(&mut m, &[(0, 1.01), (1, 1.02), (2, 2.05)]),
            vec![(7, 1.01), (3, 1.02), (9, 2.05)]
        );
        assert!(m.is_empty());
        assert_eq!(m.rejected, 0);
    }

    #[test]
    fn a_lost_stamp_skips_its_packet_only() {
        let mut m = StampMatcher::default();
        m.sent(10, [1, 2, 3].into_iter(), (1.0, 1.1));
        assert_eq!(matched(&mut m, &[(12, 1.05)]), vec![(3, 1.05)]);
        assert!(m.is_empty());
    }

    #[test]
    fn stamps_read_across_turns_wait_for_their_packets() {
        let mut m = StampMatcher::default();
        m.sent(0, [1, 2].into_iter(), (1.0, 1.1));
        assert_eq!(matched(&mut m, &[(0, 1.01)]), vec![(1, 1.01)]);
        assert!(!m.is_empty());
        assert_eq!(matched(&mut m, &[(1, 1.02)]), vec![(2, 1.02)]);
    }

    #[test]
    fn numbers_wrap_around() {
        let mut m = StampMatcher::default();
        m.sent(u32::MAX, [5, 6].into_iter(), (1.0, 1.1));
        assert_eq!(
            matched(&mut m, &[(u32::MAX, 1.01), (0, 1.02)]),
            vec![(5, 1.01), (6, 1.02)]
        );
    }

    #[test]
    fn a_stamp_outside_its_call_or_unknown_is_rejected() {
        let mut m = StampMatcher::default();
        m.sent(0, [1].into_iter(), (1.0, 1.1));
        // Out of step: the stamp of a later call's packet arriving under this number.
        assert_eq!(matched(&mut m, &[(0, 2.5)]), vec![]);
        // A number never sent (behind everything pending) matches nothing either.
        m.sent(5, [2].into_iter(), (3.0, 3.1));
        assert_eq!(matched(&mut m, &[(3, 3.05)]), vec![]);
        assert_eq!(m.rejected, 2);
        assert_eq!(matched(&mut m, &[(5, 3.05)]), vec![(2, 3.05)]);
    }
}

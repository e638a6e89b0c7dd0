//! Tests of [`super::upkeep`]: idle agents and sessions with strangers.

use std::time::{Duration, Instant};

use super::upkeep::{is_idle, Strangers, STRANGER_GRACE};
use crate::registry::NodeName;

#[test]
fn agents_idle_for_the_limit_or_longer_are_passivated() {
    // Any reading will do; late enough that the earlier instants exist on every platform.
    let now = Instant::now() + Duration::from_secs(60);
    let after = Duration::from_secs(10);
    assert!(is_idle(now - after, after, now));
    assert!(is_idle(now - after * 2, after, now));
    assert!(!is_idle(now - after / 2, after, now));
    // A use stamped after `now` (read later by another thread) is not idle.
    assert!(!is_idle(now + after, after, now));
}

#[test]
fn a_session_with_a_stranger_is_dropped_after_the_grace_and_a_member_never() {
    let t0 = Instant::now();
    let (member, stranger) = (NodeName::new("m"), NodeName::new("s"));
    let peers = [member.clone(), stranger.clone()];
    let is_member = |p: &NodeName| p.as_str() == "m";
    let mut s = Strangers::default();
    assert!(s.tick(&peers, is_member, t0).is_empty());
    assert!(s.tick(&peers, is_member, t0 + STRANGER_GRACE).is_empty());
    assert_eq!(
        s.tick(
            &peers,
            is_member,
            t0 + STRANGER_GRACE + Duration::from_millis(1)
        ),
        [stranger]
    );
    // Gone and back: its grace starts again.
    let later = t0 + STRANGER_GRACE * 2;
    assert!(s.tick(&peers, is_member, later).is_empty());
    // Became a member meanwhile: forgotten.
    assert!(s
        .tick(&peers, |_| true, later + STRANGER_GRACE * 2)
        .is_empty());
    assert!(s
        .tick(&peers, is_member, later + STRANGER_GRACE * 2)
        .is_empty());
}

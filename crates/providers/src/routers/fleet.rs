//! A fleet: one traffic split applied to several routers of one kind at once — N ship proxies,
//! N HAProxy runtime APIs, N nginx hosts. Every call goes to every member concurrently and
//! succeeds only when every member confirmed; otherwise it is an error naming the members that
//! confirmed and those that did not, and why — so the router event and the decision record it,
//! the controller holds the rollout on it (and after its error limit rolls back), and a
//! rollback reaches every member even when some fail: a call never stops at the first failure.
//!
//! A call that failed on some members leaves the fleet split (some at the new weight, some
//! not). That is the state the controller's re-assertion repairs: [`Fleet::effective_weight`]
//! reports members that disagree as an error, and setting the weight again is idempotent on
//! the members that already carry it.

use crate::{ErrorKind, MemberCall, ProviderError, RouteContext, RouterOutput, TrafficRouter};
use async_trait::async_trait;
use futures_util::future::join_all;
use std::future::Future;

/// One router of a fleet, with the name messages give it (`proxy 127.0.0.1:9091`).
pub struct Member {
    /// How messages name it.
    pub name: String,
    /// The router.
    pub router: Box<dyn TrafficRouter>,
}

/// Several routers driven as one.
pub struct Fleet {
    /// The routers' kind, for messages (`builtin`).
    kind: String,
    /// The members, in ship.toml's order.
    members: Vec<Member>,
}

impl Fleet {
    /// A fleet of `members` (at least one) of router kind `kind`.
    pub fn new(kind: &str, members: Vec<Member>) -> Fleet {
        Fleet {
            kind: kind.to_string(),
            members,
        }
    }

    /// The router for `members`: the one router itself when there is one (a fleet of one
    /// behaves exactly as that router), else the fleet.
    pub fn of(kind: &str, mut members: Vec<Member>) -> Box<dyn TrafficRouter> {
        if members.len() == 1 {
            if let Some(one) = members.pop() {
                return one.router;
            }
        }
        Box::new(Fleet::new(kind, members))
    }

    /// The members' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.name.as_str()).collect()
    }

    fn provider(&self) -> String {
        format!("{} router fleet", self.kind)
    }

    /// `call` on every member at once; Ok only when every member confirmed.
    async fn on_all<'a, F, Fut>(
        &'a self,
        what: &str,
        call: F,
    ) -> Result<RouterOutput, ProviderError>
    where
        F: Fn(&'a dyn TrafficRouter) -> Fut,
        Fut: Future<Output = Result<RouterOutput, ProviderError>> + 'a,
    {
        let answers = join_all(self.members.iter().map(|m| call(m.router.as_ref()))).await;
        let mut kinds = Vec::new();
        let members: Vec<MemberCall> = self
            .members
            .iter()
            .zip(answers)
            .map(|(m, a)| {
                let (confirmed, detail) = match a {
                    Ok(out) => (true, out.detail),
                    Err(e) => {
                        kinds.push(e.kind);
                        (false, e.to_string())
                    }
                };
                MemberCall {
                    member: m.name.clone(),
                    confirmed,
                    detail,
                }
            })
            .collect();
        let confirmed = members.iter().filter(|c| c.confirmed).count();
        let summary = summarise(&members);
        if kinds.is_empty() {
            return Ok(RouterOutput {
                detail: format!("{what}: all {confirmed} members confirmed — {summary}"),
                members,
            });
        }
        // The controller's own trouble only when it is every failure's cause: one member
        // refusing is the fleet's trouble, whatever happened to the others.
        let kind = kinds
            .iter()
            .copied()
            .find(|k| *k != ErrorKind::Local)
            .unwrap_or(ErrorKind::Local);
        let message = format!(
            "{what}: {confirmed} of {} members confirmed — {summary}",
            members.len()
        );
        Err(ProviderError::new(kind, message).by(&self.provider()))
    }
}

/// `confirmed: a (its output); NOT confirmed: b (why)`, in the members' order.
fn summarise(members: &[MemberCall]) -> String {
    members
        .iter()
        .map(|c| {
            let said = c.detail.trim().replace('\n', " ");
            if c.confirmed {
                format!("confirmed: {} ({said})", c.member)
            } else {
                format!("NOT confirmed: {} ({said})", c.member)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[async_trait]
impl TrafficRouter for Fleet {
    fn name(&self) -> &str {
        &self.kind
    }

    async fn set_weight(
        &self,
        ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        self.on_all(&format!("weight {weight}"), |r| r.set_weight(ctx, weight))
            .await
    }

    /// The weight every member carries; an error when a member cannot be read or members
    /// disagree (a split fleet: the controller sets the weight again); None when no member
    /// can tell.
    async fn effective_weight(&self, ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        let answers = join_all(self.members.iter().map(|m| m.router.effective_weight(ctx))).await;
        let mut seen: Vec<(String, Option<u8>)> = Vec::new();
        let mut failed = Vec::new();
        let mut all_local = true;
        for (m, a) in self.members.iter().zip(answers) {
            match a {
                Ok(w) => seen.push((m.name.clone(), w)),
                Err(e) => {
                    all_local &= e.is_local();
                    failed.push(format!("{} ({e})", m.name));
                }
            }
        }
        let said = || {
            seen.iter()
                .map(|(n, w)| match w {
                    Some(w) => format!("{n} carries {w}"),
                    None => format!("{n} cannot tell"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !failed.is_empty() {
            let kind = if all_local {
                ErrorKind::Local
            } else {
                ErrorKind::Unreachable
            };
            let message = format!(
                "cannot read the weight of {}{}",
                failed.join(", "),
                if seen.is_empty() {
                    String::new()
                } else {
                    format!("; {}", said())
                }
            );
            return Err(ProviderError::new(kind, message).by(&self.provider()));
        }
        let first = seen.first().map(|(_, w)| *w).unwrap_or(None);
        if seen.iter().all(|(_, w)| *w == first) {
            return Ok(first);
        }
        Err(
            ProviderError::bad_answer(format!("the members disagree: {}", said()))
                .by(&self.provider()),
        )
    }

    async fn promote(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.on_all("promote", |r| r.promote(ctx)).await
    }

    async fn roll_back(&self, ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.on_all("roll back", |r| r.roll_back(ctx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryRouter;
    use std::sync::Arc;

    fn ctx() -> RouteContext {
        RouteContext {
            service: "web".into(),
            release: "r".into(),
            stage: "canary".into(),
        }
    }

    #[tokio::test]
    async fn a_fleet_of_one_is_the_router_itself() {
        let one = Arc::new(MemoryRouter::default());
        let r = Fleet::of(
            "memory",
            vec![Member {
                name: "a".into(),
                router: Box::new(one.clone()),
            }],
        );
        let out = r.set_weight(&ctx(), 25).await.unwrap();
        assert!(out.members.is_empty(), "{out:?}");
        assert_eq!(out.detail, "weight 25", "exactly the router's own answer");
        assert_eq!(r.effective_weight(&ctx()).await.unwrap(), Some(25));
    }

    /// Two in-memory members, with handles on them.
    fn two() -> (Fleet, Arc<MemoryRouter>, Arc<MemoryRouter>) {
        let (a, b) = (Arc::new(MemoryRouter::new()), Arc::new(MemoryRouter::new()));
        let member = |name: &str, r: &Arc<MemoryRouter>| Member {
            name: name.into(),
            router: Box::new(r.clone()),
        };
        let fleet = Fleet::new("memory", vec![member("a", &a), member("b", &b)]);
        (fleet, a, b)
    }

    #[tokio::test]
    async fn a_weight_counts_only_when_every_member_confirmed() {
        let (fleet, a, b) = two();
        let out = fleet.set_weight(&ctx(), 25).await.unwrap();
        assert_eq!(out.members.len(), 2);
        assert!(out.members.iter().all(|m| m.confirmed), "{out:?}");
        assert!(
            out.detail.contains("all 2 members confirmed"),
            "{}",
            out.detail
        );
        assert_eq!((a.state().weight, b.state().weight), (25, 25));
        assert_eq!(fleet.effective_weight(&ctx()).await.unwrap(), Some(25));

        b.fail_next(1);
        let e = fleet.set_weight(&ctx(), 50).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
        assert!(!e.is_local());
        let text = e.to_string();
        assert!(text.contains("1 of 2 members confirmed"), "{text}");
        assert!(text.contains("confirmed: a (weight 50)"), "{text}");
        assert!(
            text.contains("NOT confirmed: b (memory: injected failure)"),
            "{text}"
        );
        // The fleet is split: its weight is an error until the controller sets it again.
        assert_eq!((a.state().weight, b.state().weight), (50, 25));
        let e = fleet.effective_weight(&ctx()).await.unwrap_err();
        assert!(e.to_string().contains("a carries 50, b carries 25"), "{e}");
        fleet.set_weight(&ctx(), 50).await.unwrap();
        assert_eq!(fleet.effective_weight(&ctx()).await.unwrap(), Some(50));
    }

    #[tokio::test]
    async fn a_rollback_reaches_every_member_even_when_one_fails() {
        let (fleet, a, b) = two();
        fleet.set_weight(&ctx(), 50).await.unwrap();
        // The first member fails: the second is rolled back all the same.
        a.fail_next(1);
        let e = fleet.roll_back(&ctx()).await.unwrap_err();
        assert_eq!((a.state().weight, b.state().weight), (50, 0));
        let text = e.to_string();
        assert!(
            text.contains("roll back: 1 of 2 members confirmed"),
            "{text}"
        );
        assert!(text.contains("NOT confirmed: a"), "{text}");
        assert!(text.contains("confirmed: b (weight 0)"), "{text}");
        // Retried, it completes on the one that failed.
        fleet.roll_back(&ctx()).await.unwrap();
        assert_eq!((a.state().weight, b.state().weight), (0, 0));
        // Both failing: both tried, neither confirmed.
        a.fail_next(1);
        b.fail_next(1);
        let e = fleet.promote(&ctx()).await.unwrap_err();
        assert!(e.to_string().contains("0 of 2 members confirmed"), "{e}");
        assert_eq!(
            (a.state().fail_next, b.state().fail_next),
            (0, 0),
            "both were asked"
        );
    }

    /// A member that fails for the controller's own trouble.
    struct Starved;
    #[async_trait]
    impl TrafficRouter for Starved {
        fn name(&self) -> &str {
            "starved"
        }
        async fn set_weight(&self, _: &RouteContext, _: u8) -> Result<RouterOutput, ProviderError> {
            Err(ProviderError::new(ErrorKind::Local, "too many open files"))
        }
        async fn effective_weight(&self, _: &RouteContext) -> Result<Option<u8>, ProviderError> {
            Err(ProviderError::new(ErrorKind::Local, "too many open files"))
        }
        async fn promote(&self, c: &RouteContext) -> Result<RouterOutput, ProviderError> {
            self.set_weight(c, 100).await
        }
        async fn roll_back(&self, c: &RouteContext) -> Result<RouterOutput, ProviderError> {
            self.set_weight(c, 0).await
        }
    }

    #[tokio::test]
    async fn the_fleet_fails_locally_only_when_every_failure_is_local() {
        let (fleet, a, _) = two();
        let starved = |name: &str| Member {
            name: name.into(),
            router: Box::new(Starved),
        };
        let all_local = Fleet::new("memory", vec![starved("x"), starved("y")]);
        assert!(all_local
            .set_weight(&ctx(), 5)
            .await
            .unwrap_err()
            .is_local());
        assert!(all_local
            .effective_weight(&ctx())
            .await
            .unwrap_err()
            .is_local());
        drop(fleet);
        a.fail_next(1);
        let mixed = Fleet::new(
            "memory",
            vec![
                starved("x"),
                Member {
                    name: "a".into(),
                    router: Box::new(a.clone()),
                },
            ],
        );
        let e = mixed.set_weight(&ctx(), 5).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
    }
}

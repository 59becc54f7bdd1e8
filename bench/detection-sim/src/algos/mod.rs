//! The algorithms compared, each a faithful reimplementation of its documented rule.

pub mod argo;
pub mod flagger;
pub mod kayenta;
pub mod ship;
pub mod threshold;

pub const NAMES: [&str; 6] = [
    "ship judge",
    "ship, inconclusive → promote",
    "old rule",
    "Flagger",
    "Argo",
    "Kayenta",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{run, Algorithm, End, Plan};
    use crate::stream::{Effect, Scenario, Stream};

    fn broken() -> Stream {
        // 1,000 req/s, the canary failing half its requests: every check of every rule fails.
        Stream::new(
            5,
            Scenario {
                rate: 1000.0,
                background: 0.0,
                effect: Effect::PlusPp(50.0),
            },
        )
    }

    fn when(a: Box<dyn Algorithm>) -> u64 {
        let mut algos = vec![a];
        match run(&Plan::single(5), &broken(), &mut algos, false)[0] {
            End::RolledBack { t, .. } => t,
            e => panic!("not rolled back: {e:?}"),
        }
    }

    #[test]
    fn each_rule_rolls_back_when_its_documentation_says() {
        // Flagger: checks at 1, 2, …, 5 min fail; the 6th interval's start rolls back.
        assert_eq!(when(Box::<flagger::Flagger>::default()), 360);
        // Argo: measurements at 1, 2, 3, 4 min; the 4th failure exceeds failureLimit 3.
        assert_eq!(when(Box::<argo::Argo>::default()), 240);
        // ship's old rule: the first 10 s tick with 50 canary requests in its window.
        assert_eq!(when(Box::<threshold::Threshold>::default()), 10);
        // Kayenta: the first 5-minute interval scores 0.
        let s = broken();
        assert_eq!(
            match run(
                &Plan::single(5),
                &s,
                &mut [Box::new(kayenta::Kayenta::new(&s)) as Box<dyn Algorithm>],
                false
            )[0]
            {
                End::RolledBack { t, .. } => t,
                e => panic!("{e:?}"),
            },
            300
        );
    }

    #[test]
    fn a_healthy_stream_promotes_under_every_rule_at_high_traffic() {
        let s = Stream::new(
            9,
            Scenario {
                rate: 1000.0,
                background: 0.0,
                effect: Effect::None,
            },
        );
        let plan = Plan::single(25);
        let mut algos: Vec<Box<dyn Algorithm>> = vec![
            Box::new(ship::Ship::new(
                &plan,
                shiploop_judge::Settings::default(),
                false,
            )),
            Box::<threshold::Threshold>::default(),
            Box::<flagger::Flagger>::default(),
            Box::<argo::Argo>::default(),
            Box::new(kayenta::Kayenta::new(&s)),
        ];
        for e in run(&plan, &s, &mut algos, false) {
            assert!(matches!(e, End::Completed { t, .. } if t >= 1800), "{e:?}");
        }
    }
}

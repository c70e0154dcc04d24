//! A claim's verdict over the training seeds ([`SeedVerdicts`]): *settled*
//! where the run of every seed gives the same verdict, a *flip* where they
//! differ, so a grader can tell a verdict that rests on one training run
//! from one that holds across them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::study::{ClaimTable, Verdict};

/// One claim's verdict at each training seed, in the seeds' order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedVerdicts(pub Vec<(u64, Verdict)>);

impl SeedVerdicts {
    /// Whether every seed gave the same verdict.
    pub fn settled(&self) -> bool {
        self.0.windows(2).all(|pair| pair[0].1 == pair[1].1)
    }

    /// The seeds grouped by verdict, each verdict in the order it first
    /// appears.
    fn groups(&self) -> Vec<(Verdict, Vec<u64>)> {
        let mut groups: Vec<(Verdict, Vec<u64>)> = Vec::new();
        for &(seed, verdict) in &self.0 {
            match groups.iter_mut().find(|(v, _)| *v == verdict) {
                Some((_, seeds)) => seeds.push(seed),
                None => groups.push((verdict, vec![seed])),
            }
        }
        groups
    }
}

const ONE_SEED: &str = "one seed: ";
const SETTLED: &str = "settled: ";
const FLIPS: &str = "flips: ";

/// `one seed: reproduced at 42`, `settled: not reproduced at 42, 43, 44`,
/// `flips: reproduced at 42, 44; not reproduced at 43`; parses back
/// ([`FromStr`]).
impl fmt::Display for SeedVerdicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match (self.0.len(), self.settled()) {
            (1, _) => ONE_SEED,
            (_, true) => SETTLED,
            (_, false) => FLIPS,
        };
        let groups = self.groups().into_iter().map(|(verdict, seeds)| {
            let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
            format!("{} at {}", verdict.as_str(), seeds.join(", "))
        });
        write!(f, "{prefix}{}", groups.collect::<Vec<_>>().join("; "))
    }
}

impl FromStr for SeedVerdicts {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || Error::InvalidParameter(format!("not a verdict over seeds: {text:?}"));
        let groups = [ONE_SEED, SETTLED, FLIPS]
            .iter()
            .find_map(|prefix| text.strip_prefix(prefix))
            .ok_or_else(bad)?;
        let mut verdicts = Vec::new();
        for group in groups.split("; ") {
            let (label, seeds) = group.rsplit_once(" at ").ok_or_else(bad)?;
            let verdict = Verdict::from_label(label).ok_or_else(bad)?;
            for seed in seeds.split(", ") {
                verdicts.push((seed.parse().map_err(|_| bad())?, verdict));
            }
        }
        verdicts.sort_by_key(|&(seed, _)| seed);
        Ok(Self(verdicts))
    }
}

/// The claims checked on the runs of each training seed (`tables[i]` on
/// `seeds[i]`'s, every table the same claims in the same order), as the
/// first seed's table with every claim's verdicts over the seeds
/// ([`crate::study::ClaimCheck::seeds`]). Errors when the tables do not
/// match the seeds or each other.
pub fn over_seeds(seeds: &[u64], tables: Vec<ClaimTable>) -> Result<ClaimTable> {
    let same_claims = |t: &ClaimTable| {
        t.rows.len() == tables[0].rows.len()
            && (t.rows.iter().zip(&tables[0].rows)).all(|(a, b)| a.statement == b.statement)
    };
    if tables.is_empty() || tables.len() != seeds.len() || !tables.iter().all(same_claims) {
        return Err(Error::InvalidParameter(format!(
            "{} claim tables for {} seeds: expected one table of the same claims per seed",
            tables.len(),
            seeds.len()
        )));
    }
    let verdicts = |row: usize| {
        let each = seeds.iter().zip(&tables);
        SeedVerdicts(each.map(|(&s, t)| (s, t.rows[row].verdict)).collect())
    };
    let mut first = tables[0].clone();
    for (row, claim) in first.rows.iter_mut().enumerate() {
        claim.seeds = Some(verdicts(row));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(list: &[(u64, Verdict)]) -> SeedVerdicts {
        SeedVerdicts(list.to_vec())
    }

    #[test]
    fn a_verdict_is_settled_only_when_every_seed_gives_it() {
        use Verdict::*;
        let settled = verdicts(&[(42, Reproduced), (43, Reproduced), (44, Reproduced)]);
        assert!(settled.settled());
        assert_eq!(settled.to_string(), "settled: reproduced at 42, 43, 44");
        let flips = verdicts(&[(42, Reproduced), (43, NotReproduced), (44, Reproduced)]);
        assert!(!flips.settled());
        assert_eq!(
            flips.to_string(),
            "flips: reproduced at 42, 44; not reproduced at 43"
        );
        let one = verdicts(&[(42, NotReproduced)]);
        assert!(one.settled());
        assert_eq!(one.to_string(), "one seed: not reproduced at 42");
    }

    #[test]
    fn the_text_parses_back_and_nonsense_is_refused() {
        use Verdict::*;
        for list in [
            vec![(42, Reproduced)],
            vec![(42, NotReproduced), (43, NotReproduced)],
            vec![(42, NotComparable), (43, Reproduced), (44, NotComparable)],
        ] {
            let v = SeedVerdicts(list);
            assert_eq!(v.to_string().parse::<SeedVerdicts>().unwrap(), v);
        }
        for text in [
            "",
            "reproduced at 42",
            "settled: maybe at 42",
            "flips: reproduced at x",
        ] {
            assert!(text.parse::<SeedVerdicts>().is_err(), "{text}");
        }
    }

    fn table(verdicts: &[Verdict]) -> ClaimTable {
        let row = |(i, &verdict): (usize, &Verdict)| crate::study::ClaimCheck {
            section: 7,
            statement: format!("claim {i}"),
            report: "15/29".into(),
            ours: "11/30 = 0.367".into(),
            low: None,
            high: None,
            verdict,
            reason: String::new(),
            report_consistency: None,
            assumption: None,
            power: None,
            profile: crate::study::Profile::Quick,
            seeds: None,
        };
        ClaimTable {
            rows: verdicts.iter().enumerate().map(row).collect(),
        }
    }

    #[test]
    fn over_seeds_keeps_the_first_seeds_table_and_adds_each_claims_verdicts() {
        use Verdict::*;
        let tables = vec![
            table(&[Reproduced, NotReproduced]),
            table(&[NotReproduced, NotReproduced]),
        ];
        let merged = over_seeds(&[42, 43], tables).unwrap();
        assert_eq!(merged.rows[0].verdict, Reproduced);
        let seeds = |i: usize| merged.rows[i].seeds.clone().unwrap();
        assert_eq!(
            seeds(0).to_string(),
            "flips: reproduced at 42; not reproduced at 43"
        );
        assert!(seeds(1).settled());
        let error = over_seeds(&[42, 43], vec![table(&[Reproduced])]).unwrap_err();
        assert!(
            error.to_string().contains("1 claim tables for 2 seeds"),
            "{error}"
        );
        let other = vec![table(&[Reproduced]), table(&[Reproduced, Reproduced])];
        assert!(over_seeds(&[42, 43], other).is_err());
    }
}

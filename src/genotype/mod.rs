//! Discrete architectures: what architecture selection produces and what the evaluation networks
//! and the NAS-Bench-201 lookup consume.
//!
//! A DARTS-family genotype lists two `(operation, input state)` genes for each of the four
//! intermediate nodes of the normal and the reduction cell. It reads and prints the Python
//! `Genotype(...)` text that DARTS and DARTS-PT write, so published genotypes can be pasted in
//! and results pasted back. A NAS-Bench-201 genotype is one operation per edge of the single
//! cell, read and printed as the benchmark's `|op~j|+...` architecture string, which is also the
//! key of the lookup table. Both forms (de)serialise as JSON.
//!
//! Numbering used in error messages: DARTS genes count from 0 (gene k belongs to node k/2), nodes
//! count from 0 and node n is state n+2, reading states 0..=n+1; NB201 nodes are 1..=3 (node 0
//! is the input) and the entries within a node count from 1.

mod darts;
mod error;
mod nb201;
#[cfg(test)]
pub(crate) mod samples;
mod text;

pub use darts::{DartsGenotype, GENES_PER_CELL, Gene};
pub use error::GenotypeError;
pub use nb201::Nb201Genotype;

use crate::space::{Family, SearchSpace};
use darts::RawDarts;
use nb201::RawNb201Ops;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use text::parse_python;

/// A genotype of either family. Serialises as the inner form's JSON (no tag), since the two
/// shapes cannot be confused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Genotype {
    Darts(DartsGenotype),
    Nb201(Nb201Genotype),
}

impl Genotype {
    /// Reads a genotype in any form a user is likely to paste: the Python `Genotype(...)` text,
    /// an NB201 `|op~0|+...` string, or the JSON of either (including a JSON string holding
    /// an NB201 architecture string). The form is told by the first non-blank character.
    pub fn parse(text: &str) -> Result<Self, GenotypeError> {
        // Detect on the trimmed text but parse the original, so positions count every line.
        match text.trim_start().chars().next() {
            Some('|') => Nb201Genotype::parse_arch(text).map(Genotype::Nb201),
            Some('{') | Some('"') => parse_json(text),
            _ => parse_python(text).map(Genotype::Darts),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Genotype::Darts(_) => Family::Darts,
            Genotype::Nb201(_) => Family::Nb201,
        }
    }

    /// Checks the genotype against a search space of its own family.
    pub fn validate(&self, space: &SearchSpace) -> Result<(), GenotypeError> {
        match self {
            Genotype::Darts(g) => g.validate(space),
            Genotype::Nb201(g) => g.validate(space),
        }
    }
}

fn parse_json(text: &str) -> Result<Genotype, GenotypeError> {
    let json = |e: serde_json::Error| GenotypeError::Json(e.to_string());
    let value: serde_json::Value = serde_json::from_str(text).map_err(json)?;
    match value {
        serde_json::Value::String(s) => Nb201Genotype::parse_arch(&s).map(Genotype::Nb201),
        // Shapes are read again from the text (not the value) so errors keep their positions.
        serde_json::Value::Object(ref map) if map.contains_key("ops") => {
            let raw: RawNb201Ops = serde_json::from_str(text).map_err(json)?;
            Nb201Genotype::try_from(raw).map(Genotype::Nb201)
        }
        serde_json::Value::Object(ref map)
            if map.contains_key("normal") || map.contains_key("reduce") =>
        {
            let raw: RawDarts = serde_json::from_str(text).map_err(json)?;
            DartsGenotype::try_from(raw).map(Genotype::Darts)
        }
        _ => Err(GenotypeError::Json(
            "expected an object with `normal`, `normal_concat`, `reduce`, `reduce_concat` \
             (DARTS family) or `ops` (NB201), or an NB201 architecture string"
                .to_string(),
        )),
    }
}

impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Genotype::Darts(g) => g.fmt(f),
            Genotype::Nb201(g) => g.fmt(f),
        }
    }
}

impl FromStr for Genotype {
    type Err = GenotypeError;
    fn from_str(s: &str) -> Result<Self, GenotypeError> {
        Genotype::parse(s)
    }
}

impl From<DartsGenotype> for Genotype {
    fn from(g: DartsGenotype) -> Self {
        Genotype::Darts(g)
    }
}

impl From<Nb201Genotype> for Genotype {
    fn from(g: Nb201Genotype) -> Self {
        Genotype::Nb201(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genotype::samples::{DARTS_V2, NB201_SAMPLE, S5, darts, published};
    use crate::space::{CellType, OpKind, SpaceId};

    /// Minimal deterministic generator for the fuzz tests (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn json_forms() {
        let g = darts(DARTS_V2);
        let json = serde_json::to_string(&g).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["normal"][0], serde_json::json!(["sep_conv_3x3", 0]));
        assert_eq!(v["reduce"][7], serde_json::json!(["max_pool_3x3", 1]));
        assert_eq!(v["normal_concat"], serde_json::json!([2, 3, 4, 5]));
        assert_eq!(serde_json::from_str::<DartsGenotype>(&json).unwrap(), g);
        assert_eq!(Genotype::parse(&json), Ok(Genotype::Darts(g.clone())));
        let either = serde_json::to_string(&Genotype::Darts(g.clone())).unwrap();
        assert_eq!(either, json, "Genotype serialises without a tag");
        assert_eq!(
            serde_json::from_str::<Genotype>(&either).unwrap(),
            Genotype::Darts(g)
        );

        let nb = Nb201Genotype::parse_arch(NB201_SAMPLE).unwrap();
        let json = serde_json::to_string(&nb).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap()["ops"][2],
            "avg_pool_3x3"
        );
        assert_eq!(Genotype::parse(&json), Ok(Genotype::Nb201(nb)));
        assert_eq!(
            serde_json::from_str::<Genotype>(&json).unwrap(),
            Genotype::Nb201(nb)
        );
        let quoted = format!("\"{NB201_SAMPLE}\"");
        assert_eq!(Genotype::parse(&quoted), Ok(Genotype::Nb201(nb)));
        assert_eq!(serde_json::from_str::<Nb201Genotype>(&quoted).unwrap(), nb);

        // Deserialising checks the value and names the spot.
        let bad = r#"{"normal": [["sep_conv_3x3", 0], ["conv", 1]], "normal_concat": [2], "reduce": [], "reduce_concat": [2]}"#;
        assert_eq!(
            Genotype::parse(bad),
            Err(GenotypeError::UnknownOp {
                cell: CellType::Normal,
                gene: 1,
                op: "conv".into()
            })
        );
        let err = serde_json::from_str::<DartsGenotype>(bad).unwrap_err();
        assert!(
            err.to_string().contains("unknown operation 'conv'"),
            "{err}"
        );
        let short = r#"{"ops": ["none", "none"]}"#;
        assert_eq!(
            Genotype::parse(short),
            Err(GenotypeError::Nb201OpListLen { found: 2 })
        );
        assert!(matches!(
            Genotype::parse(r#"{"normal": 3}"#),
            Err(GenotypeError::Json(_))
        ));
        assert!(matches!(Genotype::parse("{"), Err(GenotypeError::Json(_))));
        assert!(matches!(
            Genotype::parse(r#"{"other": 1}"#),
            Err(GenotypeError::Json(_))
        ));
    }

    #[test]
    fn validate_checks_family_and_none() {
        let mut g = darts(S5[2]);
        g.normal[0].op = OpKind::None;
        assert!(g.validate(&SpaceId::Darts.space()).is_err());
        g.validate(&SpaceId::Darts8.space()).unwrap();
        assert_eq!(
            g.validate(&SpaceId::Nb201.space()),
            Err(GenotypeError::WrongFamily {
                genotype: Family::Darts,
                space: SpaceId::Nb201
            })
        );
        let nb = Nb201Genotype::parse_arch(NB201_SAMPLE).unwrap();
        assert!(matches!(
            nb.validate(&SpaceId::Darts.space()),
            Err(GenotypeError::WrongFamily { .. })
        ));
        let mut other = nb;
        other.ops[4] = OpKind::SepConv3x3;
        match other.validate(&SpaceId::Nb201.space()) {
            Err(
                e @ GenotypeError::Nb201NotInSpace {
                    edge: 4,
                    to: 3,
                    from: 1,
                    ..
                },
            ) => {
                assert!(e.to_string().contains("'sep_conv_3x3'"), "{e}");
            }
            r => panic!("{r:?}"),
        }
        // A hand-built value with a wrong gene count fails validate too.
        let mut short = darts(S5[2]);
        short.reduce.pop();
        assert!(matches!(
            short.validate(&SpaceId::Darts.space()),
            Err(GenotypeError::GeneCount { found: 7, .. })
        ));
    }

    #[test]
    fn family_and_wrong_form() {
        assert_eq!(Genotype::parse(S5[0]).unwrap().family(), Family::Darts);
        assert_eq!(
            NB201_SAMPLE.parse::<DartsGenotype>(),
            Err(GenotypeError::WrongForm {
                expected: Family::Darts,
                found: Family::Nb201
            })
        );
        assert!(S5[0].parse::<Nb201Genotype>().is_err());
        assert_eq!(S5[0].parse::<DartsGenotype>(), Ok(darts(S5[0])));
        let g: Genotype = S5[3].parse().unwrap();
        assert_eq!(g.to_string(), S5[3]);
        g.validate(&SpaceId::Darts.space()).unwrap();
    }

    /// Hundreds of mutated and random texts: parsing must return, never panic, and whatever
    /// parses must print back to an equal value.
    #[test]
    fn fuzz_parsers_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let darts_json = serde_json::to_string(&darts(S5[0])).unwrap();
        let nb_json =
            serde_json::to_string(&Nb201Genotype::parse_arch(NB201_SAMPLE).unwrap()).unwrap();
        let seeds: Vec<String> = published()
            .into_iter()
            .map(String::from)
            .chain([NB201_SAMPLE.to_string(), darts_json, nb_json])
            .collect();
        let alphabet: Vec<char> = "()[]{}'\",=|~+._ 0123456789abcdeglnoprstuvx\n\té\u{0}"
            .chars()
            .collect();
        let (mut ok, mut err) = (0, 0);
        for round in 0..1200 {
            let text: String = if round % 6 == 5 {
                (0..rng.below(80))
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect()
            } else {
                let mut chars: Vec<char> = seeds[rng.below(seeds.len())].chars().collect();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(chars.len() + 1);
                    match rng.below(5) {
                        0 if at < chars.len() => {
                            chars.remove(at);
                        }
                        1 => chars.insert(at, alphabet[rng.below(alphabet.len())]),
                        2 if at < chars.len() => chars[at] = alphabet[rng.below(alphabet.len())],
                        3 => chars.truncate(at),
                        _ => chars.insert(at, ' '),
                    }
                }
                chars.into_iter().collect()
            };
            match Genotype::parse(&text) {
                Ok(g) => {
                    ok += 1;
                    assert_eq!(Genotype::parse(&g.to_string()), Ok(g.clone()), "{text}");
                    let json = serde_json::to_string(&g).unwrap();
                    assert_eq!(Genotype::parse(&json), Ok(g), "{text}");
                }
                Err(e) => {
                    err += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
            let _ = Nb201Genotype::parse_arch(&text);
        }
        assert!(ok >= 20 && err >= 600, "ok {ok}, err {err}");
    }
}

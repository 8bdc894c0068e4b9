//! The discrete network a genotype describes: the DARTS evaluation network for DARTS-family
//! cells, the NAS-Bench-201 network for NB201 cells. Training and evaluation see one type.

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::config::TrainConfig;
use crate::genotype::Genotype;
use crate::nn::InputShape;
use crate::nn::darts_eval::{DartsNetwork, EvalForward};
use crate::nn::nb201::Nb201Network;
use crate::nn::params::count_params;

// Module handles are small; the size is what clippy sees of unboxed tensor handles.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum TrainNetwork {
    Darts(DartsNetwork),
    Nb201(Nb201Network),
}

impl TrainNetwork {
    /// Builds the network of `cfg.genotype` (checked against `cfg.space`) on `device`, with the
    /// auxiliary head only when its loss has a weight.
    pub fn new(cfg: &TrainConfig, input: InputShape, device: &Device) -> Result<Self> {
        let genotype = parse_genotype(cfg)?;
        Ok(match genotype {
            Genotype::Darts(g) => TrainNetwork::Darts(DartsNetwork::new(
                &g,
                cfg.channels,
                cfg.layers,
                cfg.auxiliary_weight > 0.0,
                input,
                device,
            )),
            Genotype::Nb201(g) => TrainNetwork::Nb201(Nb201Network::new(
                &g,
                cfg.channels,
                cfg.layers,
                input,
                device,
            )),
        })
    }

    /// Logits, and the auxiliary logits when `f.auxiliary` and the network has the head. NB201
    /// networks have neither drop path nor an auxiliary head; they use `f.bn` only.
    pub fn forward(&self, x: Tensor<4>, f: EvalForward) -> (Tensor<2>, Option<Tensor<2>>) {
        match self {
            TrainNetwork::Darts(n) => n.forward(x, f),
            TrainNetwork::Nb201(n) => (n.forward(x, f.bn), None),
        }
    }

    /// Learnable parameters without the auxiliary head (the literature's convention).
    pub fn params(&self) -> usize {
        match self {
            TrainNetwork::Darts(n) => count_params(n, Some("aux")),
            TrainNetwork::Nb201(n) => count_params(n, None),
        }
    }
}

/// Parses the config's genotype and checks that it fits the config's space.
pub fn parse_genotype(cfg: &TrainConfig) -> Result<Genotype> {
    let genotype: Genotype = cfg
        .genotype
        .parse()
        .with_context(|| format!("cannot read the genotype '{}'", cfg.genotype))?;
    if genotype.family() != cfg.space.family() {
        bail!(
            "the genotype is a {} cell but the space {} is a {} space",
            family_name(genotype.family()),
            cfg.space,
            family_name(cfg.space.family())
        );
    }
    genotype
        .validate(&cfg.space.space())
        .with_context(|| format!("the genotype does not fit the {} space", cfg.space))?;
    Ok(genotype)
}

fn family_name(f: crate::space::Family) -> &'static str {
    match f {
        crate::space::Family::Darts => "DARTS-family",
        crate::space::Family::Nb201 => "NAS-Bench-201",
    }
}

//! `darts-pt inspect`: build a network or supernet and report its size, without training it.

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::device::Device;
use crate::genotype::Genotype;
use crate::nn::InputShape;
use crate::nn::darts_eval::DartsNetwork;
use crate::nn::darts_search::reduction_layers;
use crate::nn::nb201::Nb201Network;
use crate::nn::params::count_params;
use crate::nn::supernet::{Supernet, SupernetConfig};
use crate::space::{Family, SpaceId};

/// What to inspect.
#[derive(Clone, Debug)]
pub struct InspectRequest {
    pub space: SpaceId,
    /// A genotype (text, NB201 arch string or JSON); `None` inspects the search supernet.
    pub genotype: Option<String>,
    pub channels: Option<usize>,
    pub layers: Option<usize>,
    pub input: InputShape,
}

/// The report `inspect` prints.
#[derive(Clone, Debug, Serialize)]
pub struct InspectReport {
    pub space: String,
    pub kind: &'static str,
    pub channels: usize,
    pub layers: usize,
    pub input: InputShape,
    /// Learnable parameters without the auxiliary head (the literature's convention).
    pub params: usize,
    /// Learnable parameters including the auxiliary head.
    pub params_with_aux: usize,
    /// Architecture parameters (supernets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha_params: Option<usize>,
    /// The genotype printed back in canonical form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
    /// One line per cell: index, type, channels.
    pub cells: Vec<String>,
    /// Operations per cell type.
    pub ops_per_cell: Vec<String>,
}

/// Default channels and layers: evaluation networks C=36 L=20 (DARTS) / C=16 N=5 (NB201),
/// search supernets C=16 L=8 / C=16 N=5.
fn defaults(family: Family, supernet: bool) -> (usize, usize) {
    match (family, supernet) {
        (Family::Darts, false) => (36, 20),
        (Family::Darts, true) => (16, 8),
        (Family::Nb201, _) => (16, 5),
    }
}

fn cell_lines(family: Family, c: usize, layers: usize) -> Vec<String> {
    match family {
        Family::Darts => {
            let red = reduction_layers(layers);
            let mut c_cur = c;
            (0..layers)
                .map(|i| {
                    if red.contains(&i) {
                        c_cur *= 2;
                    }
                    let kind = if red.contains(&i) { "reduce" } else { "normal" };
                    format!("cell {i:2}: {kind} C={c_cur}")
                })
                .collect()
        }
        Family::Nb201 => {
            let mut lines = Vec::new();
            for (stage, width) in [c, 2 * c, 4 * c].into_iter().enumerate() {
                if stage > 0 {
                    lines.push(format!("resblock: C={width} stride 2"));
                }
                for k in 0..layers {
                    lines.push(format!("stage {} cell {k}: C={width}", stage + 1));
                }
            }
            lines
        }
    }
}

/// Builds the requested network on `device` and counts its parameters.
pub fn inspect(req: &InspectRequest, device: &Device) -> Result<InspectReport> {
    let space = req.space.space();
    let family = space.family;
    let supernet = req.genotype.is_none();
    let (dc, dl) = defaults(family, supernet);
    let channels = req.channels.unwrap_or(dc);
    let layers = req.layers.unwrap_or(dl);
    if channels == 0 || layers == 0 {
        bail!("channels and layers must be positive");
    }
    if family == Family::Darts && layers < 3 {
        bail!("a DARTS network needs at least 3 cells (reductions at L/3 and 2L/3)");
    }
    let cells = cell_lines(family, channels, layers);
    let report = match &req.genotype {
        None => {
            let config = SupernetConfig {
                space: req.space,
                channels,
                layers,
                input: req.input,
            };
            let net = Supernet::new(&config, device);
            let params = count_params(&net.net, None);
            let ops_per_cell = space
                .cell_types()
                .iter()
                .map(|c| {
                    let ops: Vec<_> = (0..space.num_edges())
                        .map(|e| space.ops(*c, e).len())
                        .collect();
                    format!(
                        "{c}: {} edges x {} candidate ops ({} mixed ops)",
                        space.num_edges(),
                        space.num_ops(),
                        ops.len()
                    )
                })
                .collect();
            InspectReport {
                space: req.space.to_string(),
                kind: "supernet",
                channels,
                layers,
                input: req.input,
                params,
                params_with_aux: params,
                alpha_params: Some(count_params(&net.alphas, None)),
                normalized: None,
                cells,
                ops_per_cell,
            }
        }
        Some(text) => {
            let genotype: Genotype = text
                .parse()
                .with_context(|| "could not read the genotype".to_string())?;
            if genotype.family() != family {
                bail!(
                    "the genotype is a {} genotype but --space {} is a {} space",
                    family_name(genotype.family()),
                    req.space,
                    family_name(family)
                );
            }
            genotype
                .validate(&space)
                .with_context(|| format!("the genotype does not fit the {} space", req.space))?;
            let (params, params_with_aux, ops_per_cell) = match &genotype {
                Genotype::Darts(g) => {
                    let net = DartsNetwork::new(g, channels, layers, true, req.input, device);
                    let ops = [
                        crate::space::CellType::Normal,
                        crate::space::CellType::Reduce,
                    ]
                    .iter()
                    .map(|c| {
                        let names: Vec<_> = g
                            .genes(*c)
                            .iter()
                            .map(|gene| format!("{}<-{}", gene.op, gene.input))
                            .collect();
                        format!("{c}: {}", names.join(", "))
                    })
                    .collect();
                    (
                        count_params(&net, Some("aux")),
                        count_params(&net, None),
                        ops,
                    )
                }
                Genotype::Nb201(g) => {
                    let net = Nb201Network::new(g, channels, layers, req.input, device);
                    let p = count_params(&net, None);
                    (p, p, vec![format!("cell: {}", g.to_arch_string())])
                }
            };
            InspectReport {
                space: req.space.to_string(),
                kind: "network",
                channels,
                layers,
                input: req.input,
                params,
                params_with_aux,
                alpha_params: None,
                normalized: Some(genotype.to_string()),
                cells,
                ops_per_cell,
            }
        }
    };
    Ok(report)
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Darts => "DARTS-family",
        Family::Nb201 => "NAS-Bench-201",
    }
}

/// The human-readable summary.
pub fn render(r: &InspectReport) -> String {
    let mut s = String::new();
    s += &format!(
        "{} {} on {}x{}x{} input, {} classes: C={}, {} {}\n",
        r.space,
        r.kind,
        r.input.channels,
        r.input.size,
        r.input.size,
        r.input.classes,
        r.channels,
        r.layers,
        if r.space == "nb201" {
            "cells per stage"
        } else {
            "cells"
        }
    );
    if let Some(g) = &r.normalized {
        s += &format!("genotype: {g}\n");
    }
    s += &format!("parameters: {:.3} M ({})", r.params as f64 / 1e6, r.params);
    if r.params_with_aux != r.params {
        s += &format!(
            ", {:.3} M with the auxiliary head",
            r.params_with_aux as f64 / 1e6
        );
    }
    s += "\n";
    if let Some(a) = r.alpha_params {
        s += &format!("architecture parameters (alpha): {a}\n");
    }
    s += "operations:\n";
    for line in &r.ops_per_cell {
        s += &format!("  {line}\n");
    }
    s += "layout:\n";
    for line in &r.cells {
        s += &format!("  {line}\n");
    }
    s
}

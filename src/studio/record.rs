//! A run as the panels show it: the library's reading of the run directory
//! ([`crate::run::RunRecord`]) and what the panels derive from it.

use super::colormap::ValueRange;
use crate::genotype::Genotype;
pub use crate::run::RunRecord;
use crate::run::SelectionRecord;
use crate::select::projection_of;
use crate::space::{CellType, SearchSpace};

/// The scale of a run's alpha bars and colours.
pub trait AlphaRange {
    /// 0 to the largest weight, or (stretched) the smallest to the largest weight of the run,
    /// which shows the small changes of a short search.
    fn alpha_range(&self, stretch: bool) -> ValueRange;
}

impl AlphaRange for RunRecord {
    fn alpha_range(&self, stretch: bool) -> ValueRange {
        let hi = ValueRange::up_to(self.alpha_max());
        let lo = self.alpha_min();
        if stretch && lo.is_finite() && lo < hi.max {
            ValueRange {
                min: lo,
                max: hi.max,
            }
        } else {
            hi
        }
    }
}

/// A selection as a per-edge choice for one cell type: `Some(op)` for a kept edge, `None` for
/// an edge the genotype does not use.
pub fn chosen_ops(
    rec: &SelectionRecord,
    space: &SearchSpace,
    cell: CellType,
) -> Option<Vec<Option<usize>>> {
    let g: Genotype = match &rec.genotype_json {
        Some(g) => g.clone(),
        None => Genotype::parse(rec.genotype.as_deref()?).ok()?,
    };
    if g.family() != space.family {
        return None;
    }
    let proj = projection_of(&g, space).ok()?;
    let ci = space.cell_types().iter().position(|c| *c == cell)?;
    let p = proj.get(ci)?;
    Some(
        (0..space.num_edges())
            .map(|e| if p.removed[e] { None } else { p.decided[e] })
            .collect(),
    )
}

//! Where `train --genotype` finds its cell: the genotype text itself, a file holding it, or a
//! search run directory whose `selection.json` records selections by label (pt, magnitude, ...).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::genotype::Genotype;
use crate::run::{RunDir, RunReader};
use crate::space::SpaceId;

/// A genotype and what is known about where it came from.
#[derive(Clone, Debug)]
pub struct ResolvedGenotype {
    pub genotype: Genotype,
    /// "text", the file's path, or "RUN_DIR (selection LABEL)".
    pub source: String,
    /// The space of the search run it was selected in, when it came from one.
    pub space: Option<SpaceId>,
}

/// Reads `arg` as a search run directory (taking the selection `label`), a file, or the text.
pub fn resolve_genotype(arg: &str, label: &str) -> Result<ResolvedGenotype> {
    let path = Path::new(arg);
    if crate::storage::is_dir(path) {
        return from_run(path, label);
    }
    let text = genotype_text(arg)?;
    let genotype: Genotype = text
        .parse()
        .with_context(|| format!("cannot read the genotype '{}'", text.trim()))?;
    let source = if text.trim() == arg.trim() {
        "text".to_string()
    } else {
        path.display().to_string()
    };
    Ok(ResolvedGenotype {
        genotype,
        source,
        space: None,
    })
}

/// Reads a genotype argument: the text itself, or the contents of a file of that name.
pub fn genotype_text(arg: &str) -> Result<String> {
    let path = Path::new(arg);
    if !arg.trim_start().starts_with(['G', '|', '{']) && crate::storage::is_file(path) {
        return crate::storage::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    Ok(arg.to_string())
}

fn from_run(dir: &Path, label: &str) -> Result<ResolvedGenotype> {
    RunDir::open(dir)?;
    let selections = RunReader::local(dir).selections()?;
    if selections.is_empty() {
        bail!(
            "{}: the run has no selections yet; derive a cell first with `darts-pt select --run {0} --method pt`",
            dir.display()
        );
    }
    let Some(record) = selections.get(label) else {
        let known: Vec<&str> = selections.keys().map(String::as_str).collect();
        bail!(
            "{}: no selection labelled '{label}' (the run has: {}); choose one with --label",
            dir.display(),
            known.join(", ")
        );
    };
    let genotype = match (&record.genotype_json, record.complete) {
        (Some(g), true) => g.clone(),
        _ => bail!(
            "{}: the '{label}' selection has not finished; continue it with `darts-pt select --run {0} --method pt --resume`",
            dir.display()
        ),
    };
    let space = record
        .space
        .parse::<SpaceId>()
        .map_err(|e| anyhow::anyhow!("{}: selection.json: {e}", dir.display()))?;
    Ok(ResolvedGenotype {
        genotype,
        source: format!("{} (selection {label})", dir.display()),
        space: Some(space),
    })
}

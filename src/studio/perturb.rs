//! Interactive perturbation: PT done by hand. The user masks operations of a loaded supernet
//! (their mixing weight set to zero, the others not renormalised) and the studio measures the
//! supernet's held-out accuracy with and without them, exactly as PT's scoring pass does:
//! batch-statistics BatchNorm that leaves the running statistics alone, no autodiff graph. The
//! supernet lives on a worker thread; the UI sends mask sets and reads back accuracies.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use anyhow::Context;
use egui::{Color32, RichText, Ui};

use super::cell::{self, CellView, OpClick, edge_name};
use super::colormap::{ValueRange, op_color};
use super::jobs::{catch, spawn_worker};
use super::record::RunRecord;
use crate::checkpoint::Checkpoint;
use crate::config::SearchConfig;
use crate::device::SelectedDevice;
use crate::nn::bn::BnMode;
use crate::nn::supernet::{CellProjection, WeightPlan, weight_plans};
use crate::run::RunDir;
use crate::search::steps::detached_probs;
use crate::search::{checkpoint_projections, evaluate, load_search_data, restore_supernet};
use crate::space::CellType;

/// A set of masked operations: (cell type, edge, op), kept sorted so equal sets compare equal.
pub type MaskSet = BTreeSet<(CellType, usize, usize)>;

/// One measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub acc: f64,
    pub loss: f64,
    pub seconds: f64,
}

enum Request {
    Score { masks: MaskSet, images: usize },
}

enum Reply {
    Ready {
        held_out: usize,
        batch: usize,
    },
    Failed(String),
    Scored {
        masks: MaskSet,
        images: usize,
        result: Result<Score, String>,
    },
}

/// The plans of every cell type with several operations masked at once.
pub fn masked_plans(
    projections: &[CellProjection],
    ops: usize,
    cells: &[CellType],
    masks: &MaskSet,
) -> Vec<WeightPlan> {
    let mut plans = weight_plans(projections, ops, None);
    for &(cell, edge, op) in masks {
        let Some(ci) = cells.iter().position(|c| *c == cell) else {
            continue;
        };
        let Some(plan) = plans.get_mut(ci) else {
            continue;
        };
        if edge < plan.keep.len() && op < ops {
            plan.keep[edge][op] = 0.0;
            plan.fixed[edge][op] = 0.0;
            plan.active[edge][op] = false;
            plan.identity = false;
        }
    }
    plans
}

/// The worker: loads the supernet from the run's checkpoint, then scores mask sets.
fn worker(
    root: PathBuf,
    device: SelectedDevice,
    rx: Receiver<Request>,
    tx: Sender<Reply>,
    wake: impl Fn() + Send + 'static,
) {
    let send = |m: Reply| {
        let _ = tx.send(m);
        wake();
    };
    let loaded = catch(|| {
        let run = RunDir::open(&root)?;
        let cfg = SearchConfig::from_toml_file(&run.config())?;
        let ckpt = Checkpoint::load(&run.checkpoint())
            .with_context(|| "the supernet's checkpoint cannot be read")?;
        let data = load_search_data(&cfg.data)?;
        let (model, _, _) = restore_supernet(&cfg, data.input, &ckpt, &device.device)?;
        let projections = checkpoint_projections(&ckpt)?;
        let batch = if cfg.pt.eval_batch_size > 0 {
            cfg.pt.eval_batch_size
        } else {
            cfg.batch_size
        };
        Ok((cfg, data, model, projections, batch))
    });
    let (cfg, data, model, projections, batch) = match loaded {
        Ok(v) => v,
        Err(e) => {
            send(Reply::Failed(e));
            return;
        }
    };
    let space = cfg.space.space();
    send(Reply::Ready {
        held_out: data.alpha_half.len(),
        batch,
    });
    let probs = detached_probs(&model);
    while let Ok(req) = rx.recv() {
        let Request::Score { masks, images } = req;
        let clock = std::time::Instant::now();
        let result = catch(|| {
            let plans = masked_plans(&projections, space.num_ops(), space.cell_types(), &masks);
            let n = images.clamp(1, data.alpha_half.len());
            let (loss, acc) = evaluate(
                &model,
                &probs,
                &plans,
                &data,
                &data.alpha_half[..n],
                batch,
                None,
                BnMode::Batch,
                &device.device,
            );
            Ok(Score {
                acc,
                loss,
                seconds: clock.elapsed().as_secs_f64(),
            })
        });
        send(Reply::Scored {
            masks,
            images,
            result,
        });
    }
}

enum Status {
    Loading,
    Ready { held_out: usize, batch: usize },
    Failed(String),
}

/// The perturbation panel's state for one loaded supernet.
pub struct Perturbation {
    pub run: PathBuf,
    pub device: String,
    tx: Sender<Request>,
    rx: Receiver<Reply>,
    status: Status,
    pub masks: MaskSet,
    /// Held-out images per evaluation (PT uses them all).
    pub images: usize,
    scores: HashMap<(MaskSet, usize), Result<Score, String>>,
    pending: BTreeSet<(MaskSet, usize)>,
    /// The edge whose operations are compared one by one.
    pub focus: Option<(CellType, usize)>,
}

/// At most this many held-out images by default, so a click answers in seconds on a CPU.
const DEFAULT_IMAGES: usize = 1000;

impl Perturbation {
    /// Starts loading the supernet of `root` on `device`.
    pub fn load(root: &Path, device: SelectedDevice, wake: impl Fn() + Send + 'static) -> Self {
        let (req_tx, req_rx) = channel();
        let (rep_tx, rep_rx) = channel();
        let desc = device.description.clone();
        let r = root.to_path_buf();
        spawn_worker("darts-pt perturbation", move || {
            worker(r, device, req_rx, rep_tx, wake)
        });
        Perturbation {
            run: root.to_path_buf(),
            device: desc,
            tx: req_tx,
            rx: rep_rx,
            status: Status::Loading,
            masks: MaskSet::new(),
            images: DEFAULT_IMAGES,
            scores: HashMap::new(),
            pending: BTreeSet::new(),
            focus: None,
        }
    }

    /// True while the supernet loads or evaluations are queued.
    pub fn is_busy(&self) -> bool {
        matches!(self.status, Status::Loading) || !self.pending.is_empty()
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.status, Status::Ready { .. })
    }

    /// Takes in the worker's replies.
    pub fn poll(&mut self) {
        while let Ok(r) = self.rx.try_recv() {
            match r {
                Reply::Ready { held_out, batch } => {
                    self.images = self.images.min(held_out).max(1);
                    self.status = Status::Ready { held_out, batch };
                }
                Reply::Failed(e) => self.status = Status::Failed(e),
                Reply::Scored {
                    masks,
                    images,
                    result,
                } => {
                    self.pending.remove(&(masks.clone(), images));
                    self.scores.insert((masks, images), result);
                }
            }
        }
    }

    /// The score of a mask set at the current image count, asking for it if unknown.
    pub fn score(&mut self, masks: &MaskSet) -> Option<Result<Score, String>> {
        let key = (masks.clone(), self.images);
        if let Some(s) = self.scores.get(&key) {
            return Some(s.clone());
        }
        if self.is_ready() && !self.pending.contains(&key) {
            let sent = self.tx.send(Request::Score {
                masks: masks.clone(),
                images: self.images,
            });
            if sent.is_ok() {
                self.pending.insert(key);
            }
        }
        None
    }

    /// Masks or unmasks one operation.
    pub fn toggle(&mut self, c: OpClick) {
        let k = (c.cell, c.edge, c.op);
        if !self.masks.remove(&k) {
            self.masks.insert(k);
        }
        self.focus = Some((c.cell, c.edge));
    }

    /// The panel.
    pub fn ui(&mut self, ui: &mut Ui, rec: &RunRecord, range: ValueRange) {
        self.poll();
        let Some(space) = rec.space.clone() else {
            ui.label("This run has no readable config.toml.");
            return;
        };
        ui.label(
            "Click a bar to mask that operation: its mixing weight becomes zero, the others \
             keep theirs (nothing is renormalised). The supernet is then measured on the \
             held-out half with batch-statistics BatchNorm, exactly like one of PT's scoring \
             passes. PT keeps, on every edge, the operation whose removal hurts accuracy most.",
        );
        ui.add_space(4.0);
        let held_out = match &self.status {
            Status::Loading => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("loading the supernet on {} …", self.device));
                });
                return;
            }
            Status::Failed(e) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("cannot load the supernet: {e}"),
                );
                return;
            }
            Status::Ready { held_out, batch } => {
                ui.label(format!(
                    "supernet of {} on {} · {held_out} held-out images · batch {batch}",
                    rec.name, self.device
                ));
                *held_out
            }
        };
        ui.horizontal(|ui| {
            let l = ui.label("held-out images per evaluation:");
            ui.add(
                egui::DragValue::new(&mut self.images)
                    .range(1..=held_out)
                    .speed(10.0),
            )
            .labelled_by(l.id)
            .on_hover_text("PT uses all of them; fewer answer faster");
            if ui.button("use all").clicked() {
                self.images = held_out;
            }
            if ui
                .add_enabled(!self.masks.is_empty(), egui::Button::new("clear masks"))
                .clicked()
            {
                self.masks.clear();
            }
            if !self.pending.is_empty() {
                ui.spinner();
                ui.label(format!("{} evaluation(s) running", self.pending.len()));
            }
        });

        // Accuracy with everything, and with the current masks.
        let base = self.score(&MaskSet::new());
        let masks = self.masks.clone();
        let masked = (!masks.is_empty()).then(|| self.score(&masks)).flatten();
        ui.horizontal(|ui| {
            let big = |s: String| RichText::new(s).size(18.0).strong();
            match &base {
                Some(Ok(s)) => {
                    ui.label(big(format!(
                        "accuracy with all operations: {:.2}%",
                        100.0 * s.acc
                    )));
                }
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                None => {
                    ui.spinner();
                }
            }
            if !masks.is_empty() {
                ui.separator();
                match (&masked, &base) {
                    (Some(Ok(m)), Some(Ok(b))) => {
                        let delta = 100.0 * (m.acc - b.acc);
                        ui.label(big(format!(
                            "with {} masked: {:.2}%",
                            masks.len(),
                            100.0 * m.acc
                        )));
                        let color = if delta < 0.0 {
                            Color32::from_rgb(220, 60, 40)
                        } else {
                            Color32::from_rgb(40, 160, 70)
                        };
                        ui.label(big(format!("({delta:+.2} points)")).color(color));
                    }
                    (Some(Err(e)), _) => {
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    }
                    _ => {
                        ui.spinner();
                    }
                }
            }
        });
        if !masks.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label("masked:");
                for &(c, e, o) in &masks {
                    let name = space.ops(c, e).get(o).map_or("?", |op| op.name());
                    if ui
                        .button(format!("× {} edge {e} {name}", c.name()))
                        .on_hover_text("unmask")
                        .clicked()
                    {
                        self.masks.remove(&(c, e, o));
                    }
                }
            });
        }
        ui.separator();

        // The supernet's cells at the checkpoint's alpha, clickable.
        let Some(last) = rec.alphas.last() else {
            ui.label("alpha.jsonl has no records: nothing to draw.");
            return;
        };
        let mut click = None;
        egui::ScrollArea::vertical()
            .id_salt("perturb-scroll")
            .show(ui, |ui| {
                ui.columns(2, |cols| {
                    let ui = &mut cols[0];
                    for &cell_type in space.cell_types() {
                        let Some(w) = RunRecord::cell_weights(last, cell_type) else {
                            continue;
                        };
                        let in_cell: Vec<(usize, usize)> = self
                            .masks
                            .iter()
                            .filter(|(c, _, _)| *c == cell_type)
                            .map(|(_, e, o)| (*e, *o))
                            .collect();
                        ui.strong(cell::cell_title(&space, cell_type));
                        let view = CellView {
                            space: &space,
                            cell: cell_type,
                            weights: w,
                            range,
                            chosen: None,
                            masked: &in_cell,
                            diff: None,
                            focus: self.focus.filter(|f| f.0 == cell_type).map(|f| f.1),
                            discrete: false,
                            salt: "perturb",
                        };
                        if let Some(c) = cell::show(ui, &view) {
                            click = Some(c);
                        }
                    }
                    self.edge_table(&mut cols[1], rec, &space, &base);
                });
            });
        if let Some(c) = click {
            self.toggle(c);
        }
    }

    /// PT's test on the focused edge: accuracy without each of its operations.
    fn edge_table(
        &mut self,
        ui: &mut Ui,
        rec: &RunRecord,
        space: &crate::space::SearchSpace,
        base: &Option<Result<Score, String>>,
    ) {
        let Some((cell_type, edge)) = self.focus else {
            ui.label("Click an operation to mask it; its edge is then compared here op by op.");
            return;
        };
        let edges = space.edges();
        let Some(e) = edges.get(edge) else { return };
        ui.strong(format!(
            "{} · edge {edge} ({}): PT's test",
            cell_type.name(),
            edge_name(space.family, e)
        ));
        // PT removes one operation of the edge at a time; masks elsewhere stay.
        let others: MaskSet = self
            .masks
            .iter()
            .filter(|(c, ed, _)| !(*c == cell_type && *ed == edge))
            .copied()
            .collect();
        ui.label(if others.is_empty() {
            "the supernet's accuracy without each operation of this edge:".to_string()
        } else {
            format!(
                "the supernet's accuracy without each operation of this edge ({} mask(s) on other edges kept):",
                others.len()
            )
        });
        let ops = space.ops(cell_type, edge).to_vec();
        let weights = rec
            .alphas
            .last()
            .and_then(|a| RunRecord::cell_weights(a, cell_type))
            .and_then(|w| w.get(edge))
            .cloned()
            .unwrap_or_default();
        let mut accs: Vec<Option<f64>> = Vec::new();
        for o in 0..ops.len() {
            let mut m = others.clone();
            m.insert((cell_type, edge, o));
            accs.push(match self.score(&m) {
                Some(Ok(s)) => Some(s.acc),
                _ => None,
            });
        }
        let reference = if others.is_empty() {
            base.clone()
        } else {
            self.score(&others)
        };
        let base_acc = match reference {
            Some(Ok(s)) => Some(s.acc),
            _ => None,
        };
        egui::Grid::new("perturb-edge-table")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                ui.strong("operation");
                ui.strong("softmax(α)");
                ui.strong("acc without");
                ui.strong("change");
                ui.end_row();
                for (o, op) in ops.iter().enumerate() {
                    ui.label(RichText::new(op.name()).color(op_color(*op)));
                    ui.label(weights.get(o).map_or("–".into(), |w| format!("{w:.3}")));
                    match accs[o] {
                        Some(a) => {
                            ui.label(format!("{:.2}%", 100.0 * a));
                            ui.label(
                                base_acc.map_or("".into(), |b| format!("{:+.2}", 100.0 * (a - b))),
                            );
                        }
                        None => {
                            ui.spinner();
                            ui.label("");
                        }
                    }
                    ui.end_row();
                }
            });
        if accs.iter().all(Option::is_some) && !accs.is_empty() {
            let acc: Vec<f64> = accs.iter().map(|a| a.unwrap_or(f64::NAN)).collect();
            let loss = vec![0.0; acc.len()];
            let pt = crate::select::pt::choose_op(crate::select::pt::Criterion::Acc, &acc, &loss);
            let mag = cell::dominant(&weights, &ops);
            ui.add_space(4.0);
            ui.label(
                RichText::new(format!(
                    "PT keeps {} (removing it hurts most)",
                    ops.get(pt).map_or("?", |o| o.name())
                ))
                .strong(),
            );
            if let Some(m) = mag {
                let same = m == pt;
                ui.label(format!(
                    "alpha's magnitude would keep {}{}",
                    ops[m].name(),
                    if same {
                        ": the two agree"
                    } else {
                        ": the two disagree"
                    }
                ));
            }
        }
    }
}

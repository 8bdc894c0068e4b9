//! The perturbation panel: PT done by hand. The user masks operations of a loaded supernet
//! (their mixing weight set to zero, the others not renormalised) and the studio measures the
//! supernet's held-out accuracy with and without them, exactly as PT's scoring pass does
//! ([`crate::select::perturb::Perturber`]). The supernet lives in a task of its own (a worker
//! thread natively); the UI sends mask sets and reads back accuracies.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use egui::{Color32, RichText, Ui};

use crate::device::SelectedDevice;
use crate::select::perturb::{MaskSet, Perturber, Score};
use crate::space::{CellType, SearchSpace};
use crate::studio::app::MaskSpec;
use crate::studio::cell::{self, CellView, OpClick, edge_name};
use crate::studio::colormap::{ValueRange, op_color};
use crate::studio::jobs::{catch, spawn_task};
use crate::studio::panels::runs::ONE_JOB;
use crate::studio::record::RunRecord;

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

/// The worker: loads the supernet from the run's checkpoint, then scores mask sets as they
/// come.
async fn worker(
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
    let perturber = match catch(|| Perturber::load(&root, &device)) {
        Ok(p) => p,
        Err(e) => {
            send(Reply::Failed(e));
            return;
        }
    };
    send(Reply::Ready {
        held_out: perturber.held_out(),
        batch: perturber.batch_size(),
    });
    while let Some(Request::Score { masks, images }) = next_request(&rx).await {
        // Natively a panic becomes an error; in a page there is no unwinding to catch.
        #[cfg(not(target_arch = "wasm32"))]
        let result = catch(|| Ok(pollster::block_on(perturber.score(&masks, images))));
        #[cfg(target_arch = "wasm32")]
        let result = Ok(perturber.score(&masks, images).await);
        send(Reply::Scored {
            masks,
            images,
            result,
        });
    }
}

/// The UI's next request, or `None` once the panel is gone. A page cannot block its only
/// thread on the channel, so it looks again on the page's timer.
async fn next_request(rx: &Receiver<Request>) -> Option<Request> {
    #[cfg(not(target_arch = "wasm32"))]
    return rx.recv().ok();
    #[cfg(target_arch = "wasm32")]
    loop {
        match rx.try_recv() {
            Ok(r) => return Some(r),
            Err(std::sync::mpsc::TryRecvError::Empty) => crate::job::pace::sleep_ms(30).await,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
        }
    }
}

/// The panel's own state: the supernet loaded for the current run and device, and the
/// operations `--mask` asked for, masked once it is loaded.
#[derive(Default)]
pub struct PerturbUi {
    pub loaded: Option<Perturbation>,
    pending_masks: Vec<MaskSpec>,
}

impl PerturbUi {
    /// The panel with `masks` to apply once a supernet is loaded.
    pub fn new(masks: Vec<MaskSpec>) -> Self {
        PerturbUi {
            loaded: None,
            pending_masks: masks,
        }
    }

    /// True while the supernet loads or evaluations are queued.
    pub fn is_busy(&self) -> bool {
        self.loaded.as_ref().is_some_and(|p| p.is_busy())
    }

    /// Takes in the worker's replies and, once the supernet is ready, masks what `--mask`
    /// asked for, looking its operations up in `space` (the current run's). Returns the
    /// messages for the status bar.
    pub fn poll(&mut self, space: Option<&SearchSpace>) -> Vec<String> {
        let mut messages = Vec::new();
        if let Some(p) = &mut self.loaded {
            p.poll();
            if p.is_ready() && !self.pending_masks.is_empty() {
                let masks = std::mem::take(&mut self.pending_masks);
                for (cell, edge, op) in masks {
                    let o = space.and_then(|s| s.ops(cell, edge).iter().position(|x| *x == op));
                    match o {
                        Some(o) => p.toggle(OpClick { cell, edge, op: o }),
                        None => messages.push(format!(
                            "--mask: {op} is not a candidate on {cell} edge {edge}"
                        )),
                    }
                }
            }
        }
        messages
    }

    /// Draws the panel for `rec`, loading its supernet on `device` first if the one loaded is
    /// another run's or on another device; `wake` repaints the UI when the worker replies.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        rec: &RunRecord,
        device: SelectedDevice,
        job_running: bool,
        range: ValueRange,
        wake: impl Fn() + Send + 'static,
    ) {
        if !rec.has_checkpoint {
            ui.label("This run has no checkpoint yet: there is no supernet to perturb.");
            return;
        }
        let stale = self
            .loaded
            .as_ref()
            .is_none_or(|p| p.run != rec.root || p.device != device.description);
        if stale && job_running {
            // Building the supernet draws random initial weights from the backend's one
            // random stream, which would change the running job's numbers.
            ui.label(format!(
                "The supernet loads once the running job has finished ({ONE_JOB})."
            ));
            return;
        }
        if stale {
            self.loaded = Some(Perturbation::load(&rec.root, device, wake));
        }
        if let Some(p) = &mut self.loaded {
            p.ui(ui, rec, range);
        }
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
        spawn_task("darts-pt perturbation", move || {
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
            let pt = crate::select::pt::choose_op(crate::config::Criterion::Acc, &acc, &loss);
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

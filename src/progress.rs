//! Terminal progress for jobs: indicatif bars on a terminal, plain lines otherwise. It only
//! consumes [`Event`]s, like the studio does.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::job::Event;
use crate::run::{MetricsKind, MetricsRecord, Started};

/// Renders job events on stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    interactive: bool,
    quiet: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

fn fmt_opt(label: &str, v: Option<f64>, pct: bool) -> Option<String> {
    v.map(|v| {
        if pct {
            format!("{label} {:.1}%", 100.0 * v)
        } else {
            format!("{label} {v:.3}")
        }
    })
}

/// A compact summary of a metrics line.
pub fn describe(m: &MetricsRecord) -> String {
    let parts: Vec<String> = [
        fmt_opt("loss", m.train_loss, false),
        fmt_opt("acc", m.train_acc, true),
        fmt_opt("alpha-loss", m.alpha_loss, false),
        fmt_opt("alpha-acc", m.alpha_acc, true),
        fmt_opt("valid-acc", m.valid_acc, true),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("{} | {:.0} img/s", parts.join(" "), m.images_per_sec)
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            bar: None,
            interactive: std::io::stderr().is_terminal(),
            quiet: false,
        }
    }

    /// No output at all (for tests and embedding).
    pub fn quiet() -> Self {
        Progress {
            bar: None,
            interactive: false,
            quiet: true,
        }
    }

    fn finish_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Handles one event.
    pub fn on_event(&mut self, event: &Event) {
        if self.quiet {
            return;
        }
        match event {
            Event::Started(Started {
                job,
                run_dir,
                start_epoch,
                epochs,
                ..
            }) => {
                if *start_epoch > 0 {
                    eprintln!("{job}: resuming at epoch {start_epoch}/{epochs} in {run_dir}");
                } else {
                    eprintln!("{job}: {epochs} epochs, writing {run_dir}");
                }
            }
            Event::EpochStarted {
                epoch,
                epochs,
                steps,
                start_step,
            } => {
                self.finish_bar();
                if self.interactive {
                    let bar = ProgressBar::new(*steps as u64);
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix} [{bar:30}] {pos}/{len} {msg} (eta {eta})",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(format!("epoch {}/{}", epoch + 1, epochs));
                    bar.set_position(*start_step as u64);
                    bar.enable_steady_tick(Duration::from_millis(500));
                    self.bar = Some(bar);
                }
            }
            Event::Step { step, .. } => {
                if let Some(b) = &self.bar {
                    b.set_position(*step as u64);
                }
            }
            Event::Metrics(m) => {
                let text = describe(m);
                if let Some(b) = &self.bar {
                    b.set_message(text.clone());
                }
                if m.kind == MetricsKind::Epoch {
                    self.finish_bar();
                    eprintln!("epoch {:>3}: {text} ({:.0} s)", m.epoch + 1, m.elapsed);
                } else if !self.interactive {
                    eprintln!(
                        "epoch {:>3} step {:>4}/{}: {text}",
                        m.epoch + 1,
                        m.step,
                        m.steps
                    );
                }
            }
            Event::SelectionStarted { method, total } => {
                self.finish_bar();
                eprintln!("{method}: {total} evaluation passes planned");
                if self.interactive {
                    let bar = ProgressBar::new(*total as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix} [{bar:30}] {pos}/{len} {msg} (eta {eta})",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix("evaluations");
                    self.bar = Some(bar);
                }
            }
            Event::Evaluation {
                index,
                total,
                label,
            } => match &self.bar {
                Some(b) if b.length() == Some(*total as u64) => {
                    b.set_position(*index as u64);
                    b.set_message(label.clone());
                }
                _ => {
                    if !self.interactive {
                        eprintln!("evaluation {index}/{total}: {label}");
                    }
                }
            },
            Event::Decision(d) => self.println(&d.summary()),
            Event::Note(text) => self.println(text),
            Event::Checkpoint { .. } | Event::Alpha(_) | Event::TrainMetrics(_) => {}
            Event::Finished { message, .. } => {
                self.finish_bar();
                eprintln!("{message}");
            }
        }
    }
}

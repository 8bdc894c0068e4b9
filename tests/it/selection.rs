//! Selection on a real (tiny) run: the records PT and magnitude write.

use darts_pt::run::RunDir;
use darts_pt::select::read_selections;

use crate::common::tiny_nb201_run;

#[test]
fn tiny_run_records_both_selections() {
    let run = RunDir::open(tiny_nb201_run()).unwrap();
    let all = read_selections(&run);
    let mag = &all["magnitude"];
    let pt = &all["pt"];
    assert!(mag.complete && pt.complete);
    // PT decided all six NB201 edges, each with one score per operation.
    assert_eq!(pt.op_decisions.len(), 6);
    for d in &pt.op_decisions {
        assert_eq!(d.acc_without.len(), 5);
        assert!(d.acc_without.iter().all(|a| (0.0..=1.0).contains(a)));
        assert_eq!(d.ops[d.chosen], d.chosen_name);
    }
    for r in [mag, pt] {
        let g = r.genotype.as_ref().unwrap();
        assert!(g.starts_with('|') && g.ends_with('|'), "{g}");
        assert!(run.genotype(&r.label).exists());
    }
}

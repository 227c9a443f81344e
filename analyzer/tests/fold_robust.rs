//! Any capture content folds without panicking: addresses, mappings and
//! symbols are untrusted input.

mod common;

use common::*;
use holter::filter::Filter;
use holter::flamegraph::fold;
use holter::load::Capture;
use holter::symbolize::Symbolizer;
use holter_format::{BinarySymbols, JitSymbols, KernelSymbols, Record, Segment};
use proptest::prelude::*;

fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), 0u64..0x1_0000, Just(u64::MAX), Just(0)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn fold_never_panics(
        maps in proptest::collection::vec((0u64..4, 1u32..3, any_u64(), any_u64(), any_u64(), any::<bool>()), 0..6),
        segs in proptest::collection::vec((any_u64(), any_u64(), any_u64()), 0..3),
        syms in proptest::collection::vec((any_u64(), any_u64()), 0..6),
        stacks in proptest::collection::vec((proptest::collection::vec(any_u64(), 0..6), proptest::collection::vec(any_u64(), 0..4)), 1..5),
        samples in proptest::collection::vec((0u32..3, 0u32..6, 0u64..10), 1..20),
    ) {
        let mut r: Vec<Record> = Vec::new();
        for (t, pid, start, end, pgoff, with_id) in &maps {
            r.push(mapping(*t, *pid, *start, *end, *pgoff, "/bin/x", if *with_id { &[1] } else { &[] }));
        }
        let symbols: Vec<_> = syms.iter().map(|(s, z)| sym(*s, *z, "f")).collect();
        for id in [vec![1u8], vec![]] {
            r.push(Record::BinarySymbols(BinarySymbols {
                build_id: id,
                path: "/bin/x".into(),
                segments: segs.iter().map(|&(file_offset, vaddr, filesz)| Segment { file_offset, vaddr, filesz }).collect(),
                symbols: symbols.clone(),
                unnamed: vec![],
            }));
        }
        r.push(Record::KernelSymbols(KernelSymbols { symbols: symbols.clone() }));
        r.push(Record::JitSymbols(JitSymbols { pid: 1, symbols: symbols.clone() }));
        for (i, (user, kernel)) in stacks.iter().enumerate() {
            r.push(stack(i as u32, user, kernel));
        }
        for (pid, stack_id, t) in &samples {
            r.push(sample(*t as f64 * 0.5, *pid, *pid, *stack_id));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.holter");
        write_capture(&path, &r);
        let capture = Capture::load(&path).unwrap();
        let sym = Symbolizer::new(&capture, None).unwrap();
        let folded = fold(&capture, &Filter::default(), &sym).unwrap();
        prop_assert_eq!(folded.quality.samples, samples.len() as u64);
        prop_assert_eq!(folded.stacks.values().sum::<u64>(), samples.len() as u64);
        prop_assert!(folded.quality.symbolized_frames <= folded.quality.frames);
    }
}

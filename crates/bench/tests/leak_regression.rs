//! The leak analysis against synthetic series whose slope and plateau are known.

use parallax_bench::stats::{leak_analysis, LinearFit};

/// Deterministic noise in [-amp, amp].
fn noise(i: usize, amp: f64) -> f64 {
    let x = ((i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        >> 33) as f64;
    (x / (1u64 << 31) as f64 * 2.0 - 1.0) * amp
}

#[test]
fn a_steady_leak_is_found_with_its_slope() {
    // 200 MB baseline, 0.5 MB per iteration, ±2 MB noise, 500 iterations (a soak).
    let y: Vec<f64> = (0..500).map(|i| 200.0 + 0.5 * i as f64 + noise(i, 2.0)).collect();
    let a = leak_analysis(&y, 0.05).expect("analysis");
    assert!((a.fit.slope - 0.5).abs() < 0.01, "{:?}", a.fit);
    assert!(a.fit.slope_ci95_low < 0.5 && a.fit.slope_ci95_high > 0.5);
    assert!(a.fit.r2 > 0.99);
    assert!(!a.plateau, "a steady leak never plateaus");
}

#[test]
fn warm_up_growth_that_stops_is_a_plateau_not_a_leak() {
    // Grows 10 MB per iteration for 8 iterations (allocator warm-up), then flat with noise.
    let y: Vec<f64> = (0..100)
        .map(|i| 300.0 + 10.0 * (i.min(8) as f64) + noise(i, 0.5))
        .collect();
    let a = leak_analysis(&y, 0.05).expect("analysis");
    assert!(a.fit.slope > 0.0, "the overall slope still shows the warm-up");
    let tail = a.tail_fit.as_ref().expect("tail");
    assert!(tail.slope.abs() < 0.05, "{tail:?}");
    assert!(a.plateau);
}

#[test]
fn ten_iterations_cannot_tell_warm_up_from_a_leak() {
    // The study's 10-iteration test: warm-up still running at the end reads as growth.
    let y: Vec<f64> = (0..10).map(|i| 300.0 + 10.0 * (i.min(8) as f64)).collect();
    let a = leak_analysis(&y, 0.05).expect("analysis");
    assert!(!a.plateau, "with 10 points the warm-up is not over");
}

#[test]
fn an_exact_line_has_an_exact_fit() {
    let x: Vec<f64> = (0..10).map(f64::from).collect();
    let y: Vec<f64> = x.iter().map(|v| 3.0 - 2.0 * v).collect();
    let f = LinearFit::of(&x, &y).expect("fit");
    assert!((f.slope + 2.0).abs() < 1e-12 && (f.intercept - 3.0).abs() < 1e-12);
    assert!((f.r2 - 1.0).abs() < 1e-12);
    assert!(LinearFit::of(&[1.0, 2.0], &[1.0, 2.0]).is_none(), "too few points");
    assert!(
        LinearFit::of(&[1.0; 5], &[1.0, 2.0, 3.0, 4.0, 5.0]).is_none(),
        "no spread in x"
    );
}

#[test]
fn the_prompt_file_parses_and_has_the_studys_nine_categories() {
    let set = parallax_bench::prompts::prompt_set();
    let ids: Vec<&str> = set.categories.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "simple",
            "math",
            "creative",
            "code",
            "reasoning",
            "factual",
            "long_document",
            "moe_routing",
            "multi_turn"
        ]
    );
    assert!(set
        .categories
        .iter()
        .all(|c| (200..=500).contains(&c.max_tokens) && !c.prompts.is_empty()));
    let doc = set
        .categories
        .iter()
        .find(|c| c.id == "long_document")
        .expect("long_document");
    assert!(doc.min_prompt_tokens >= 4096);
}

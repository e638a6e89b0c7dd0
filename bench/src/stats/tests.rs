use super::*;

fn sorted(values: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut v: Vec<u64> = values.into_iter().collect();
    v.sort_unstable();
    v
}

#[test]
fn no_samples_have_no_percentile() {
    assert_eq!(percentile(&[], 5_000), None);
    let s = Recorder::default().summary(Some(1));
    assert_eq!((s.n, s.p50, s.max, s.throughput), (0, 0, 0, None));
}

#[test]
fn one_sample_is_every_percentile() {
    let one = [42];
    for bp in [0, 1, 2_500, 5_000, 9_000, 9_900, 9_999, 10_000] {
        assert_eq!(percentile(&one, bp), Some(42), "at {bp} basis points");
    }
}

#[test]
fn two_samples_split_at_the_median() {
    let two = [10, 20];
    assert_eq!(percentile(&two, 0), Some(10));
    assert_eq!(percentile(&two, 5_000), Some(10), "rank ceil(0.5*2) = 1");
    assert_eq!(percentile(&two, 5_001), Some(20));
    assert_eq!(percentile(&two, 9_000), Some(20));
    assert_eq!(percentile(&two, 9_900), Some(20));
    assert_eq!(percentile(&two, 10_000), Some(20));
}

#[test]
fn one_to_a_hundred_gives_the_ranks_themselves() {
    let v = sorted(1..=100);
    assert_eq!(percentile(&v, 0), Some(1));
    assert_eq!(percentile(&v, 100), Some(1), "p1");
    assert_eq!(percentile(&v, 2_500), Some(25));
    assert_eq!(percentile(&v, 5_000), Some(50), "nearest rank, not 50.5");
    assert_eq!(percentile(&v, 9_000), Some(90));
    assert_eq!(percentile(&v, 9_900), Some(99));
    assert_eq!(percentile(&v, 9_950), Some(100), "p99.5 rounds the rank up");
    assert_eq!(percentile(&v, 10_000), Some(100));
}

#[test]
fn the_order_of_recording_does_not_matter() {
    let mut forward = Recorder::default();
    forward.extend(1..=100);
    let mut backward = Recorder::default();
    backward.extend((1..=100).rev());
    let (f, b) = (forward.summary(None), backward.summary(None));
    assert_eq!(f, b);
    assert_eq!(
        (f.n, f.min, f.p50, f.p90, f.p99, f.max),
        (100, 1, 50, 90, 99, 100)
    );
    assert_eq!((f.p25, f.p75), (25, 75));
    assert!((f.mean - 50.5).abs() < 1e-9);
}

#[test]
fn a_thousand_samples() {
    let v = sorted(1..=1000);
    assert_eq!(percentile(&v, 5_000), Some(500));
    assert_eq!(percentile(&v, 9_900), Some(990));
    assert_eq!(percentile(&v, 9_990), Some(999), "p99.9");
}

#[test]
fn throughput_is_elements_over_total_time() {
    // Two operations of 1 ms, 1000 elements each: 2000 elements in 2 ms.
    let mut r = Recorder::default();
    r.extend([1_000_000, 1_000_000]);
    let t = r.summary(Some(1000)).throughput.unwrap();
    assert!((t - 1e6).abs() < 1e-6, "{t}");
    assert_eq!(throughput(5, 0), None);
    assert!((throughput(1, 1_000).unwrap() - 1e6).abs() < 1e-6);
    assert_eq!(r.summary(None).throughput, None, "bytes have no throughput");
}

#[test]
fn ratio_is_subject_over_baseline() {
    assert_eq!(ratio(150, 100), Some(1.5));
    assert_eq!(ratio(50, 100), Some(0.5));
    assert_eq!(ratio(0, 100), Some(0.0));
    assert_eq!(ratio(100, 0), None);
}

#[test]
fn below_the_cap_every_sample_is_kept() {
    let mut r = Recorder::with_cap(10);
    r.extend([5, 3, 9]);
    assert_eq!(r.kept(), &[5, 3, 9]);
    assert_eq!((r.count(), r.sum()), (3, 17));
}

#[test]
fn past_the_cap_count_sum_min_max_stay_exact_and_percentiles_unbiased() {
    let n = 100_000u64;
    let mut r = Recorder::with_cap_and_seed(2_000, 7);
    // A shuffled 1..=n, so the reservoir cannot get lucky from the order.
    let mut values: Vec<u64> = (1..=n).collect();
    fastrand::Rng::with_seed(3).shuffle(&mut values);
    r.extend(values);
    assert_eq!(r.kept().len(), 2_000, "capped");
    let s = r.summary(None);
    assert_eq!((s.n, s.kept, s.min, s.max), (n, 2_000, 1, n));
    assert_eq!(r.sum(), u128::from(n) * u128::from(n + 1) / 2);
    // A uniform sample of 2000 puts the median within a few percent of the truth.
    let close = |got: u64, want: u64| (got as f64 - want as f64).abs() / (want as f64) < 0.05;
    assert!(close(s.p50, n / 2), "p50 {}", s.p50);
    assert!(close(s.p90, n * 9 / 10), "p90 {}", s.p90);
    assert!(close(s.p99, n * 99 / 100), "p99 {}", s.p99);
}

#[test]
fn a_late_outlier_still_shows_as_the_max() {
    let mut r = Recorder::with_cap(4);
    r.extend([1; 1000]);
    r.record(1_000_000);
    let s = r.summary(None);
    assert_eq!(s.max, 1_000_000);
    assert_eq!(s.p50, 1);
}

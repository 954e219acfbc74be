"""`bench diloco`'s arms train and score on the text asked for: `--dataset cranfield` is not charlm."""

from bench.diloco import compare, diloco, sync_baseline


def test_both_arms_train_and_score_on_the_dataset_asked_for():
    # from one θ₀, 20 steps: the two texts' losses differ by ~0.3, the two arms' on one text by ~0.03
    sync = {d: sync_baseline(2, 20, 1, None, 0, d)["final_val_loss"] for d in (None, "cranfield")}
    dil = {d: diloco(2, 20, 10, "int8", 1.0, 0.0, 1, None, d)["final_val_loss"] for d in (None, "cranfield")}
    for d, other in ((None, "cranfield"), ("cranfield", None)):
        assert abs(dil[d] - sync[d]) < abs(dil[d] - sync[other]) / 3


def test_each_arm_trains_at_the_peak_lr_it_is_given():
    # the model's lr by default; a lr 5× larger moves 20 steps' loss far more than run-to-run noise (none:
    # both arms are deterministic)
    same = (
        sync_baseline(2, 20, 1, None, 0, None, 3e-3),
        diloco(2, 20, 10, "int8", 1.0, 0.0, 1, None, None, 3e-3),
    )
    default = (sync_baseline(2, 20, 1), diloco(2, 20, 10, "int8", 1.0, 0.0, 1))
    faster = (
        sync_baseline(2, 20, 1, None, 0, None, 1.5e-2),
        diloco(2, 20, 10, "int8", 1.0, 0.0, 1, None, None, 1.5e-2),
    )
    for at_model_lr, at_default, at_faster in zip(same, default, faster, strict=True):
        assert at_model_lr["final_val_loss"] == at_default["final_val_loss"]
        assert abs(at_faster["final_val_loss"] - at_default["final_val_loss"]) > 0.05


def test_the_comparison_runs_each_arm_at_its_own_lr_and_reports_what_ran():
    r = compare(2, 20, [1], 0, None, [(10, "int8", 0.7, 0.5), (40, "int8", 1.0, 0.0)], 1.5e-2, 3e-3, 2)
    assert (r["baseline_schedule"]["lr"], r["inner_schedule"]["lr"]) == ("0.003", "0.015")
    assert r["baseline"]["val_loss_per_seed"] == [
        sync_baseline(2, 20, 1, None, 0, None, 3e-3)["final_val_loss"]
    ]
    (run,) = r["runs"]  # H=40 is more than the 20 steps a worker takes: no round would end
    assert (run["H"], run["outer_lr"], run["outer_momentum"]) == (10, 0.7, 0.5)
    alone = diloco(2, 20, 10, "int8", 0.7, 0.5, 1, None, None, 1.5e-2)["final_val_loss"]
    assert run["val_loss_per_seed"] == [alone]
    assert run["loss_ratio_vs_baseline"] == alone / r["baseline"]["final_val_loss"]


def test_each_run_reports_the_95_percent_interval_of_its_paired_ratio():
    r = compare(2, 20, [1, 2], 0, None, [(10, "int8", 1.0, 0.0)], jobs=2)
    (run,) = r["runs"]
    a, b = run["loss_ratio_per_seed"]
    lo, hi = run["loss_ratio_ci95"]
    # n = 2: mean ± t(0.975, 1 df) · sd / √2, with sd = |a − b| / √2 and t = 12.7062
    assert abs((lo + hi) / 2 - (a + b) / 2) < 1e-12
    assert abs((hi - lo) / 2 - 12.7062 * abs(a - b) / 2) < 1e-4
    one = compare(2, 20, [1], 0, None, [(10, "int8", 1.0, 0.0)], jobs=1)
    assert one["runs"][0]["loss_ratio_ci95"] is None

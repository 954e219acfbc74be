"""`bench diloco`'s arms train and score on the text asked for: `--dataset cranfield` is not charlm."""

from bench.diloco import diloco, sync_baseline


def test_both_arms_train_and_score_on_the_dataset_asked_for():
    # from one θ₀, 20 steps: the two texts' losses differ by ~0.3, the two arms' on one text by ~0.03
    sync = {d: sync_baseline(2, 20, 1, None, 0, d)["final_val_loss"] for d in (None, "cranfield")}
    dil = {d: diloco(2, 20, 10, "int8", 1.0, 0.0, 1, None, d)["final_val_loss"] for d in (None, "cranfield")}
    for d, other in ((None, "cranfield"), ("cranfield", None)):
        assert abs(dil[d] - sync[d]) < abs(dil[d] - sync[other]) / 3

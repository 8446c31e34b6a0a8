"""The sweep figure: one panel per trace, one line per algorithm at the mean over seeds."""

import numpy as np
import pandas as pd

import pytest

from kvsched.analysis.plots import latency_by_algorithm, latency_vs_memory, latency_vs_rate, save


def table(seeds=(0, 1, 5)) -> pd.DataFrame:
    rows = [{"trace": t, "algorithm": a, "memory": m, "seed": s, "time_unit": "rounds",
             "latency_mean": 1000.0 / m * (1 + 0.2 * k) + 3 * s}
            for t in ("trace_b", "trace_a") for k, a in enumerate(("mcsf", "fcfs", "zz_custom"))
            for m in (256, 64, 128) for s in seeds]
    return pd.DataFrame(rows)


def test_lines_are_seed_means_in_algorithm_order(tmp_path):
    df = table()
    fig = latency_vs_memory(df)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["trace_a", "trace_b"]
    for ax in axes:
        lines = ax.get_lines()
        # known policies in the fixed order, others after them alphabetically
        assert [ln.get_label() for ln in lines] == ["fcfs", "mcsf", "zz_custom"]
        assert len({str(ln.get_linestyle()) + ln.get_marker() for ln in lines}) == 3
        for ln in lines:
            want = (df[(df["trace"] == ax.get_title()) & (df["algorithm"] == ln.get_label())]
                    .groupby("memory")["latency_mean"].mean())
            np.testing.assert_array_equal(ln.get_xdata(), want.index.to_numpy())
            np.testing.assert_allclose(ln.get_ydata(), want.to_numpy())
        assert len(ax.collections) == 3           # a min-max band per line: three seeds
        assert ax.get_xscale() == ax.get_yscale() == "log"
    assert axes[0].get_ylabel() == "mean latency (rounds)"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["fcfs", "mcsf", "zz_custom"]
    save(fig, [tmp_path / "f.png", tmp_path / "f.pdf"])
    assert (tmp_path / "f.png").stat().st_size > 1000 and (tmp_path / "f.pdf").stat().st_size > 1000


def test_one_seed_has_no_band():
    fig = latency_vs_memory(table(seeds=(0,)))
    assert all(len(ax.collections) == 0 for ax in fig.axes)


def test_legend_follows_the_algorithm_order_across_panels():
    df = table(seeds=(0,))
    df = df[~((df["trace"] == "trace_a") & (df["algorithm"] == "fcfs"))]   # fcfs only in trace_b
    fig = latency_vs_memory(df)
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["mcsf", "zz_custom"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["fcfs", "mcsf", "zz_custom"]


def test_latency_by_algorithm_bars_are_sorted_seed_means():
    df = table().assign(latency_p99=lambda d: 4 * d["latency_mean"])
    fig = latency_by_algorithm(df)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 6 and panels[0].get_title() == "trace_a, M = 64 tokens"
    for ax in panels:
        trace, m = ax.get_title().split(", M = ")
        want = (df[(df["trace"] == trace) & (df["memory"] == int(m.split()[0]))]
                .groupby("algorithm")["latency_mean"].mean().sort_values())
        top_down = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
        assert [t.get_text() for t in top_down] == list(want.index)   # best at the top
        np.testing.assert_allclose([b.get_width() for b in ax.patches], want.to_numpy())
        np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), 4 * want.to_numpy())   # p99 ticks
    assert [ax.get_title() for ax in fig.axes[:3]] == [f"trace_a, M = {m} tokens" for m in (64, 128, 256)]


def test_labels_name_variants_and_mixed_predictors():
    """A sweep variant's label names its bar; a table mixing predictors appends the predictor."""
    df = table(seeds=(0,)).assign(latency_p99=1.0, predictor="oracle")
    df["label"] = df["algorithm"].where(df["algorithm"] != "zz_custom", "mine")
    ticks = {t.get_text() for t in latency_by_algorithm(df).axes[0].get_yticklabels()}
    assert ticks == {"fcfs", "mcsf", "mine"}
    assert not any(b.get_hatch() for b in latency_by_algorithm(df).axes[0].patches)   # one predictor
    df.loc[df["algorithm"] == "mcsf", "predictor"] = "sage_knn"
    ax = latency_by_algorithm(df).axes[0]
    ticks = [t.get_text() for t in sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])]
    assert set(ticks) == {"fcfs · oracle", "mcsf · sage_knn", "mine · oracle"}
    # oracle runs are references: hatched, the others plain
    assert [bool(b.get_hatch()) for b in ax.patches] == [t.endswith("oracle") for t in ticks]
    fig = latency_vs_memory(df)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["fcfs · oracle", "mcsf · sage_knn", "mine · oracle"]


def test_policies_that_read_no_predictions_keep_their_name():
    """A policy that reads no predictions ran no predictor: no suffix, no reference hatching,
    and its predictor does not make the table count as mixed."""
    df = table(seeds=(0,)).assign(latency_p99=1.0, predictor="sage_knn", reads_predictions=True)
    df.loc[df["algorithm"] == "fcfs", ["predictor", "reads_predictions"]] = ["oracle", False]
    ax = latency_by_algorithm(df).axes[0]
    assert {t.get_text() for t in ax.get_yticklabels()} == {"fcfs", "mcsf", "zz_custom"}   # not mixed
    df.loc[df["algorithm"] == "mcsf", "predictor"] = "oracle"
    ax = latency_by_algorithm(df).axes[0]
    ticks = [t.get_text() for t in sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])]
    assert set(ticks) == {"fcfs", "mcsf · oracle", "zz_custom · sage_knn"}
    assert [bool(b.get_hatch()) for b in ax.patches] == [t == "mcsf · oracle" for t in ticks]


def test_many_lines_stay_distinct():
    rows = [{"trace": "t", "algorithm": f"a{k:02d}", "memory": m, "seed": 0, "latency_mean": 1.0 + k}
            for k in range(15) for m in (64, 128)]
    lines = latency_vs_memory(pd.DataFrame(rows)).axes[0].get_lines()
    assert len({(str(ln.get_color()), str(ln.get_linestyle()), ln.get_marker()) for ln in lines}) == 15
    assert len({str(ln.get_color()) for ln in lines}) == 15


def test_latency_vs_rate_has_mean_and_p99_rows_per_trace():
    rows = [{"trace": t, "algorithm": a, "memory": 100, "seed": s, "trace.rate": r,
             "latency_mean": r * (1 + k) + s, "latency_p99": 10 * r * (1 + k) + s}
            for t in ("t2", "t1") for k, a in enumerate(("mcsf", "fcfs")) for r in (2.0, 0.5, 1.0) for s in (0, 2)]
    df = pd.DataFrame(rows)
    fig = latency_vs_rate(df)
    assert len(fig.axes) == 4 and [ax.get_title() for ax in fig.axes[:2]] == ["t1", "t2"]
    assert fig.axes[0].get_ylabel() == "mean latency (s)" and fig.axes[2].get_ylabel() == "p99 latency (s)"
    for ax, metric in zip(fig.axes, ("latency_mean", "latency_mean", "latency_p99", "latency_p99")):
        trace = "t1" if ax in (fig.axes[0], fig.axes[2]) else "t2"
        for ln in ax.get_lines():
            want = df[(df.trace == trace) & (df.algorithm == ln.get_label())].groupby("trace.rate")[metric].mean()
            np.testing.assert_array_equal(ln.get_xdata(), [0.5, 1.0, 2.0])
            np.testing.assert_allclose(ln.get_ydata(), want.to_numpy())
        assert len(ax.collections) == 2          # seed bands
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "1", "2"]   # the swept rates
    two = pd.concat([df, df.assign(memory=200, latency_mean=df.latency_mean * 2)])
    assert [ax.get_title() for ax in latency_vs_rate(two).axes[:4]] == [
        "t1, M = 100", "t1, M = 200", "t2, M = 100", "t2, M = 200"]
    with pytest.raises(ValueError, match="trace.rate"):
        latency_vs_rate(df.drop(columns="trace.rate"))


def test_latency_by_algorithm_legend_keeps_mean_plain_when_a_reference_is_best():
    """The legend's "mean" is the plain bar, also where an oracle reference tops the first panel."""
    df = table(seeds=(0,)).assign(latency_p99=1.0, predictor="sage_knn")
    df.loc[df["algorithm"] == "mcsf", "predictor"] = "oracle"          # mcsf: the best, a reference
    fig = latency_by_algorithm(df)
    assert fig.axes[0].patches[0].get_hatch() == "//"                  # the top bar is the reference
    legend = fig.legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    assert sorted(texts) == ["mean", "mean, oracle predictions (reference)", "p99"]
    handles = dict(zip(texts, legend.legend_handles))
    mean, ref = handles["mean"], handles["mean, oracle predictions (reference)"]
    assert not mean.get_hatch() and ref.get_hatch() == "//"
    assert mean.get_facecolor() != ref.get_facecolor()


def test_runs_on_different_trace_files_or_settings_get_panels_of_their_own():
    """trace=file runs are named by their file, and two files (or two trace.n) are never averaged
    into one panel."""
    df = table(seeds=(0,)).assign(latency_p99=1.0)
    df = df.assign(**{"trace.path": df["trace"].map({"trace_a": "data/day1.csv", "trace_b": "day2.csv"}),
                      "trace": "file"})
    fig = latency_by_algorithm(df)
    assert [ax.get_title() for ax in fig.axes[:4:3]] == ["day1.csv, M = 64 tokens", "day2.csv, M = 64 tokens"]
    assert [ax.get_title() for ax in latency_vs_memory(df).axes] == ["day1.csv", "day2.csv"]
    one = df[df["trace.path"] == "day2.csv"].assign(**{"trace.n": 100.0})
    two = one.assign(**{"trace.n": float("nan"), "latency_mean": one["latency_mean"] * 2})
    titles = [ax.get_title() for ax in latency_vs_memory(pd.concat([one, two])).axes]
    assert titles == ["day2.csv, n=-", "day2.csv, n=100"]
    rates = pd.concat([one[one["memory"] == 64].assign(**{"trace.rate": r}) for r in (0.5, 1.0)])
    assert [ax.get_title() for ax in latency_vs_rate(rates).axes] == ["day2.csv", ""]   # rate: the x axis


def test_figures_carry_no_creation_date(tmp_path):
    """The same results give byte-identical figures: matplotlib stamps a PDF with the time it
    was written unless told not to (sweep figures and module experiments' alike)."""
    import matplotlib.pyplot as plt

    from kvsched.experiments import ExperimentContext

    for k in (1, 2):
        save(latency_vs_memory(table()), [tmp_path / f"f{k}.pdf"])
        fig, ax = plt.subplots()
        ax.plot([1, 2], [3, 4])
        ExperimentContext("x", "quick", {}, tmp_path).figure(fig, f"g{k}")
    for stem in ("f", "g"):
        pdf = (tmp_path / f"{stem}1.pdf").read_bytes()
        assert b"/CreationDate" not in pdf
        assert b"/Producer" in pdf                  # the other metadata stays

"""User plugins: a policy, predictor or trace from a file outside the package (kvsched.plugins)."""

import hashlib
import json
import re
import textwrap

import numpy as np
import pandas as pd

import pytest

from conftest import ROOT
from kvsched.analysis.sweep import load_sweep, validate_points
from kvsched.cli import main
from kvsched.config import compose
from kvsched.config.compose import conf_dir
from kvsched.errors import ConfigError
from kvsched.plugins import plugin_files, plugins_in
from kvsched.runner import execute

EXAMPLE = str(ROOT / "examples" / "aged_sf.py")
SMALL = ["trace=synthetic_mcsf", "trace.arrival_model=2", "memory.capacity=auto", "latency=unit",
         "sim.progress=false"]


def _plugin(tmp_path, name, body):
    f = tmp_path / f"{name}.py"
    f.write_text(textwrap.dedent(body))
    return str(f)


def _run(overrides):
    return execute(compose(SMALL + overrides))


def test_example_plugin_runs_and_records_its_file(tmp_path):
    out = tmp_path / "run"
    assert main(["run", *SMALL, f"plugins=[{EXAMPLE}]", "algorithm=aged_sf", "algorithm.aging=2",
                 f"out={out}"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["config"]["plugins"] == [EXAMPLE]
    assert s["config"]["algorithm"] == {"name": "aged_sf", "aging": 2}
    (rec,) = s["provenance"]["plugins"]
    assert rec["sha256"] == hashlib.sha256(open(EXAMPLE, "rb").read()).hexdigest()
    assert s["metrics"]["completed"] == s["metrics"]["requests"]


@pytest.mark.parametrize("spec", ["{f}", "'{f}'", "[{f}]"])
def test_one_plugin_needs_no_brackets(spec):
    """``plugins=FILE`` is read as ``plugins=[FILE]``: the same config and output folder."""
    cfg = compose(SMALL + [f"plugins={spec.format(f=EXAMPLE)}", "algorithm=aged_sf"])
    assert list(cfg.plugins) == [EXAMPLE]
    assert cfg.out == compose(SMALL + [f"plugins=[{EXAMPLE}]", "algorithm=aged_sf"]).out


def test_example_with_no_aging_is_mcsf_and_aging_changes_it():
    """aging = 0 ranks by prediction, ties by arrival: MC-SF's order and check, so the same
    records. A large aging approaches FCFS and must differ (the comparison can fail)."""
    _, mcsf = _run(["algorithm=mcsf"])
    _, zero = _run([f"plugins=[{EXAMPLE}]", "algorithm=aged_sf", "algorithm.aging=0"])
    pd.testing.assert_frame_equal(zero, mcsf)
    _, aged = _run([f"plugins=[{EXAMPLE}]", "algorithm=aged_sf", "algorithm.aging=50"])
    assert not aged["latency"].equals(mcsf["latency"])


def test_example_skips_rounds_exactly():
    """The example's quiet_rounds lets the engine skip rounds; its records equal stepping
    round by round (bit for bit in unit rounds, to 1e-9 s with the latency model)."""
    aged = [f"plugins=[{EXAMPLE}]", "algorithm=aged_sf", "algorithm.aging=2"]
    _, skip = _run(aged)
    _, step = _run(aged + ["sim.step_mode=true"])
    pd.testing.assert_frame_equal(skip, step)
    timed = aged + ["trace=lmsys_like", "trace.n=300", "trace.rate=2.0", "memory.capacity=6000",
                    "latency=llama2_70b_a100_tp2", "sim.progress=false"]
    skip, step = (execute(compose(timed + extra))[1] for extra in ([], ["sim.step_mode=true"]))
    pd.testing.assert_frame_equal(skip, step, check_exact=False, rtol=0, atol=1e-9)
    assert skip["completion"].notna().all() and skip["start"].ne(skip["arrival"]).any()   # requests did wait


@pytest.mark.parametrize("override,expect", [
    (["algorithm.agin=1"], r"unknown config key 'algorithm\.agin': algorithm 'aged_sf' accepts aging"),
    (["algorithm.aging=-1"], "aging must be >= 0"),
])
def test_plugin_parameters_are_checked(override, expect):
    with pytest.raises(ConfigError, match=expect):
        execute(compose(SMALL + [f"plugins=[{EXAMPLE}]", "algorithm=aged_sf"] + override))


def test_unknown_option_suggests_plugins():
    with pytest.raises(ConfigError, match=r"unknown algorithm 'not_loaded_sf'; valid: .*mcsf.*plugins=\["):
        compose(["algorithm=not_loaded_sf"])


def test_a_loaded_plugin_without_the_option_says_so(tmp_path):
    """A plugin that loads but registers no such name (the decorator forgotten, a typo in the
    name) is not answered with "load a policy of your own with plugins=[...]", which it was."""
    plain = _plugin(tmp_path, "plain", """
        from kvsched.policies import Policy

        class Plain(Policy):
            name = "plain_sf"

            def admit(self, view):
                return []
    """)
    with pytest.raises(ConfigError, match=r"unknown algorithm 'plain_sf'; valid: .*mcsf.*; the plugins loaded "
                                          r"\(.*plain\.py\) register no policy named 'plain_sf': is its class "
                                          r"decorated with @register_policy"):
        compose([f"plugins=[{plain}]", "algorithm=plain_sf"])


def test_missing_or_broken_plugins_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"plugin 'nope/none\.py': no such file"):
        compose(["plugins=[nope/none.py]"])
    with pytest.raises(ConfigError, match=r"plugin 'no_such_plugin_module': no such module"):
        compose(["plugins=[no_such_plugin_module]"])
    broken = _plugin(tmp_path, "broken", "x = 1\nraise RuntimeError('boom at import')\n")
    with pytest.raises(ConfigError, match=r"broken\.py' failed to import: RuntimeError: boom at import, "
                                          r"at .*broken\.py:2: raise RuntimeError"):
        compose([f"plugins=[{broken}]"])
    needs = _plugin(tmp_path, "needs", "import not_installed_pkg_xyz\n")
    with pytest.raises(ConfigError, match=r"failed to import: No module named 'not_installed_pkg_xyz', at .*needs\.py:1: "
                                          r"import not_installed_pkg_xyz \(a plugin file's folder is not on the import path"):
        compose([f"plugins=[{needs}]"])


def test_plugin_cannot_replace_a_builtin(tmp_path):
    clash = _plugin(tmp_path, "clash", """
        from kvsched.policies import Policy, register_policy

        @register_policy
        class Fake(Policy):
            name = "mcsf"
            def admit(self, view):
                return []
    """)
    with pytest.raises(ConfigError, match=r"clash\.py' failed to import: ValueError: policy name 'mcsf' is taken "
                                          r"by the built-in policy; give Fake another name"):
        compose([f"plugins=[{clash}]"])
    _, table = _run(["algorithm=mcsf"])              # the built-in is untouched
    assert table["completion"].notna().all()


def test_plugin_predictor_and_trace(tmp_path):
    """All three registries take plugins; a plugin trace's keys become its config keys."""
    f = _plugin(tmp_path, "extras", """
        from dataclasses import dataclass
        import numpy as np
        from kvsched.predictors.base import Predictions, Predictor
        from kvsched.predictors.registry import register_predictor
        from kvsched.traces.registry import register_trace
        from kvsched.workload import Workload

        @register_predictor
        class Constant(Predictor):
            name = "plugin_constant"
            uses_truth = False
            @dataclass(frozen=True)
            class Params:
                value: int = 7
            def predict(self, ids, prompt, texts, truth):
                assert truth is None      # a predictor that does not ask for the truth gets none
                return Predictions(point=np.full(len(ids), self.params.value, dtype=np.int64))

        @register_trace("plugin_ramp", defaults={"n": 6})
        def ramp(p, data_dir, seed):
            n = int(p["n"])
            return Workload(np.zeros(n), np.ones(n, dtype=np.int64), np.arange(1, n + 1), "plugin_ramp", "rounds")
    """)
    base = ["latency=unit", "sim.progress=false"]
    s, _ = execute(compose(base + [f"plugins=[{f}]", "trace=plugin_ramp", "trace.n=5", "memory.capacity=20",
                     "predictor=plugin_constant", "predictor.value=3", "algorithm=fcfs"]))
    assert s["metrics"]["completed"] == 5 and s["config"]["predictor"] == {"name": "plugin_constant", "value": 3}
    with pytest.raises(ConfigError, match="plugin_ramp.*accepts n"):
        compose([f"plugins=[{f}]", "trace=plugin_ramp", "trace.m=1"])
    # the option named in the message is the one chosen last, as Hydra does
    with pytest.raises(ConfigError, match="trace 'plugin_ramp' accepts n$"):
        compose(["trace=synthetic_mcsf", f"plugins=[{f}]", "trace=plugin_ramp", "trace.m=1"])


def test_plugins_override_parsing():
    assert plugins_in(["algorithm=mcsf"]) == []
    assert plugins_in(["plugins=[a/b.py,mod.x]", "seed=1"]) == ["a/b.py", "mod.x"]
    assert plugins_in(["+plugins=a.py"]) == ["a.py"]
    assert plugin_files(["plugins=[a/b.py,mod.x]"]) == ["a/b.py"]


def test_cli_list_with_plugin(capsys):
    assert main(["list", "--plugin", EXAMPLE]) == 0
    assert "aged_sf" in json.loads(capsys.readouterr().out)["algorithm"]
    assert main(["list", "--long", "--plugin", EXAMPLE]) == 0
    out = capsys.readouterr().out.splitlines()
    i = next(k for k, line in enumerate(out) if line.split()[:1] == ["aged_sf"])
    assert "Shortest predicted first with aging" in out[i] and out[i + 1].split() == ["aging=1.0"]
    j = next(k for k, line in enumerate(out) if line.split()[:1] == ["azure_conv"])
    assert out[j + 1].split() == ["n=null,", "arrival=trace,", "rate=null,", "start=0"]


def test_cli_list_shows_latency_models(capsys):
    """The latency options are listed like the other groups, each with its model kind and keys."""
    assert main(["list"]) == 0
    assert json.loads(capsys.readouterr().out)["latency"] == sorted(p.stem for p in (conf_dir() / "latency").glob("*.yaml"))
    assert main(["list", "--long"]) == 0
    out = capsys.readouterr().out.splitlines()
    i = next(k for k, line in enumerate(out) if line.split()[:1] == ["llama2_70b_a100_tp2"])
    assert "A100" in out[i] and out[i + 1].split()[:2] == ["name=splitwise_fit,", "model=llama2-70b,"]


def test_cli_list_shows_experiments(capsys):
    """The experiment presets are listed too, each with its description, kind and scales."""
    assert main(["list"]) == 0
    assert json.loads(capsys.readouterr().out)["experiment"] == sorted(
        p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))
    assert main(["list", "--long"]) == 0
    out = capsys.readouterr().out.splitlines()
    i = next(k for k, line in enumerate(out) if line.split()[:1] == ["gsa_gba"])
    assert "GSA and GBA empirical ratios" in out[i] and out[i + 1].split() == ["kind=module,", "scales=quick/full"]
    i = next(k for k, line in enumerate(out) if line.split()[:1] == ["skeleton"])
    assert "Mean latency vs KV-cache size" in out[i] and out[i + 1].split() == ["kind=sweep,", "scales=quick/full"]


def test_plugin_sweep_preset_composes():
    """The pipeline's example preset: every point (plugin loaded first) composes."""
    spec = load_sweep("plugin_example")
    assert any(o.startswith("plugins=") for o in spec["fixed"])
    assert "aged_sf" in spec["axes"]["algorithm"]
    validate_points(spec)


@pytest.mark.parametrize("body,expect", [
    ("""
        from kvsched.policies import Policy, register_policy
        @register_policy
        class Nameless(Policy):
            def admit(self, view):
                return []
    """, "policy class Nameless sets no name"),
    ("""
        from kvsched.predictors.base import Predictor
        from kvsched.predictors.registry import register_predictor
        @register_predictor
        class Mine(Predictor):
            name = "oracle"
    """, "predictor name 'oracle' is taken by the built-in predictor; give Mine another name"),
    ("""
        from kvsched.traces.registry import register_trace
        @register_trace("azure_conv", defaults={})
        def mine(p, data_dir, seed):
            pass
    """, "trace name 'azure_conv' is taken by the built-in trace; give mine another name"),
    ("""
        from kvsched.policies import Policy, register_policy
        class Params:
            k = 1
        @register_policy
        class Plain(Policy):
            name = "plain_params"
            Params = Params
            def admit(self, view):
                return []
    """, "policy class Plain: Params must be a dataclass"),
    ("""
        from dataclasses import dataclass
        from kvsched.predictors.base import Predictor
        from kvsched.predictors.registry import register_predictor
        @dataclass(frozen=True)
        class Params:
            name: str = "mine"
        @register_predictor
        class Named(Predictor):
            name = "named_params"
            Params = Params
    """, "predictor class Named: Params has a field 'name'"),
    ("""
        from kvsched.policies import Policy, register_policy
        @register_policy
        class Slashed(Policy):
            name = "my/policy"
            def admit(self, view):
                return []
    """, "policy name 'my/policy' of Slashed cannot be selected in a config"),
    ("""
        from kvsched.traces.registry import register_trace
        @register_trace("mine ", defaults={})
        def mine(p, data_dir, seed):
            pass
    """, "trace name 'mine ' of mine cannot be selected in a config"),
])
def test_plugin_names_are_checked(tmp_path, body, expect):
    """A class without a name of its own would register as its parent's; a built-in's name is refused.
    A Params that is no dataclass once failed at run time with a TypeError, and a field ``name``
    replaced the option's name (``unknown algorithm 'mine'``). A name no override can select
    registered, then was unknown, though listed among the valid ones."""
    f = _plugin(tmp_path, "names", body)
    with pytest.raises(ConfigError, match=re.escape(expect)):
        compose([f"plugins=[{f}]"])


def test_a_name_taken_by_another_plugin_names_its_file(tmp_path):
    """The first holder was named by its module, a hash (``kvsched_plugin_4f0c35...``)."""
    body = """
        from kvsched.policies import Policy, register_policy
        @register_policy
        class Twin(Policy):
            name = "twin_policy"
            def admit(self, view):
                return []
    """
    first, second = _plugin(tmp_path, "first", body), _plugin(tmp_path, "second", body)
    with pytest.raises(ConfigError, match=re.escape(f"'twin_policy' is taken by policy Twin of plugin {first}")):
        compose([f"plugins=[{first},{second}]"])


def test_editing_a_plugin_changes_the_default_out(tmp_path, monkeypatch):
    """The default folder's digest covers the plugin's code, so a rerun after an edit keeps the
    first result."""
    from kvsched import plugins
    body = """
        from kvsched.policies import Policy, register_policy
        @register_policy
        class Edited(Policy):
            name = "edited_policy"
            def admit(self, view):
                return list(view.waiting[:1])   # {}
    """
    f = _plugin(tmp_path, "edited", body.format("first"))
    monkeypatch.setattr(plugins, "_LOADED", {})
    first = compose([f"plugins=[{f}]", "algorithm=edited_policy"]).out
    assert compose([f"plugins=[{f}]", "algorithm=edited_policy"]).out == first
    _plugin(tmp_path, "edited", body.format("second"))
    plugins._LOADED.clear()                       # a new process loads the file afresh
    assert compose([f"plugins=[{f}]", "algorithm=edited_policy"]).out != first


BROKEN = """
    import numpy as np
    from kvsched.policies import Policy, register_policy

    @register_policy
    class Broken(Policy):
        name = "broken_{hook}"
        def admit(self, view):
            if "{hook}" == "raises":
                return 1 / 0
            if "{hook}" == "none":
                return None
            return list(view.waiting[:1])
        def queue_key(self, view, ids):
            return np.zeros(len(ids) + 1) if "{hook}" == "key" else None
        def quiet_rounds(self, view):
            return None if "{hook}" == "quiet" else 1
"""


@pytest.mark.parametrize("hook,expect", [
    ("raises", r"a plugin raised ZeroDivisionError: division by zero\n  .*broken\.py:\d+ in admit: return 1 / 0"),
    ("none", r"policy 'broken_none': admit returned None; return a list of waiting request ids"),
    ("key", r"policy 'broken_key': queue_key must return one finite number per arriving request"),
    ("quiet", r"policy 'broken_quiet': quiet_rounds must return a whole number of rounds, got None"),
])
def test_a_broken_policy_is_reported_without_a_traceback(tmp_path, capsys, hook, expect):
    f = _plugin(tmp_path, "broken", BROKEN.format(hook=hook))
    assert main(["run", *SMALL, f"plugins=[{f}]", f"algorithm=broken_{hook}", f"out={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert re.search(expect, err) and "Traceback" not in err, err


@pytest.mark.parametrize("name,init,expect", [
    ("bare_init", "def __init__(self):\n                self.seen = 0",
     r"algorithm 'bare_init': OwnInit\(params, capacity, seed\) fails .*; define __init__\(self, params=None, \*, "),
    ("no_super", "def __init__(self, params=None, *, capacity, seed=0):\n                self.seen = 0",
     r"algorithm 'no_super': OwnInit.__init__ does not call super\(\).__init__\(params, capacity=capacity"),
], ids=["bare_init", "no_super"])
def test_a_policy_with_its_own_init_is_checked(tmp_path, capsys, name, init, expect):
    """An ``__init__`` without the engine's arguments, or without the base class's, once failed
    with a TypeError or AttributeError and the engine's traceback (a predictor's: below)."""
    f = _plugin(tmp_path, name, f"""
        from kvsched.policies import Policy, register_policy
        @register_policy
        class OwnInit(Policy):
            name = "{name}"
            {init}
            def admit(self, view):
                return list(view.waiting[:1])
    """)
    assert main(["run", *SMALL, f"plugins=[{f}]", f"algorithm={name}", f"out={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert re.search(expect, err) and "Traceback" not in err, err


def test_an_eviction_rule_the_default_victims_lacks_is_refused(tmp_path, capsys):
    """``victims`` by default follows ``params.eviction``; a rule it does not know failed with
    a ValueError and the engine's traceback, at the first overflow of the run."""
    f = _plugin(tmp_path, "evicting", """
        from dataclasses import dataclass
        from kvsched.policies import Policy, register_policy
        @dataclass(frozen=True)
        class Params:
            eviction: str = "newest"
        @register_policy
        class Evicting(Policy):
            name = "evicting"
            Params = Params
            def admit(self, view):
                return [i for i in view.waiting[:1] if view.prompt[i] + 1 <= view.free]
    """)
    assert main(["run", *SMALL, f"plugins=[{f}]", "algorithm=evicting", "algorithm.eviction=oldest",
                 f"out={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert "algorithm 'evicting': eviction='oldest' is not a rule of the default victims()" in err, err


def test_a_predictor_with_its_own_init_is_checked(tmp_path, capsys):
    f = _plugin(tmp_path, "seedless", """
        import numpy as np
        from kvsched.predictors.base import Predictions, Predictor
        from kvsched.predictors.registry import register_predictor
        @register_predictor
        class Seedless(Predictor):
            name = "seedless"
            def __init__(self, params=None):
                super().__init__(params)
            def predict(self, ids, prompt, texts, truth):
                return Predictions(point=np.full(len(ids), 10))
    """)
    assert main(["run", *SMALL, f"plugins=[{f}]", "predictor=seedless", f"out={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"predictor 'seedless': Seedless\(params, seed\) fails .*; define __init__\(self, params=None, "
                     r"\*, seed=\.\.\.\)", err) and "Traceback" not in err, err


def test_a_policy_without_admit_is_refused(tmp_path):
    f = _plugin(tmp_path, "noadmit", """
        from kvsched.policies import Policy, register_policy
        @register_policy
        class NoAdmit(Policy):
            name = "no_admit"
    """)
    with pytest.raises(ConfigError, match=r"policy class NoAdmit has no admit\(self, view\) method"):
        compose([f"plugins=[{f}]"])


@pytest.mark.parametrize("returns,expect", [
    ("(np.zeros(3), np.ones(3), np.ones(3))", "trace 'bad_trace': its loader returned tuple, not a kvsched.workload.Workload"),
    ("Workload(np.zeros(3), np.ones(3), np.array([1.7, 2, 3]), 'bad_trace', 'rounds')",
     "output lengths must be whole numbers of tokens (request 0: 1.7)"),
    ("Workload(np.zeros(3), np.array([1, np.nan, 2]), np.ones(3), 'bad_trace', 'rounds')",
     "prompt sizes must be whole numbers of tokens (request 1: nan)"),
    ("Workload(np.zeros(3), np.ones((3, 1)), np.ones(3), 'bad_trace', 'rounds')", "prompt sizes must be a flat array"),
    ("Workload(np.zeros(3), np.array(['a', 'b', 'c']), np.ones(3), 'bad_trace', 'rounds')", "prompt sizes must be numbers"),
])
def test_a_malformed_plugin_trace_is_named(tmp_path, capsys, returns, expect):
    name = f"bad_trace_{hashlib.sha256(returns.encode()).hexdigest()[:6]}"   # one name per case and process
    returns, expect = returns.replace("bad_trace", name), expect.replace("bad_trace", name)
    f = _plugin(tmp_path, "badtrace", f"""
        import numpy as np
        from kvsched.traces.registry import register_trace
        from kvsched.workload import Workload
        @register_trace("{name}", defaults={{}})
        def bad(p, data_dir, seed):
            return {returns}
    """)
    assert main(["run", f"plugins=[{f}]", f"trace={name}", "latency=unit", "memory.capacity=50",
                 "sim.progress=false", f"out={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err, err


PREDICTOR_EXAMPLE = str(ROOT / "examples" / "my_predictor.py")


def test_example_predictor_runs_learns_and_records_its_file(tmp_path):
    out = tmp_path / "run"
    assert main(["run", *SMALL, f"plugins=[{PREDICTOR_EXAMPLE}]", "predictor=bucket_median", "predictor.prior=20",
                 "algorithm=mcsf", f"out={out}"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["config"]["predictor"] == {"name": "bucket_median", "prior": 20, "window": 50}
    assert s["resolved"]["predictor_uses_truth"] is False and s["metrics"]["completed"] == s["metrics"]["requests"]
    (rec,) = s["provenance"]["plugins"]
    assert rec["sha256"] == hashlib.sha256(open(PREDICTOR_EXAMPLE, "rb").read()).hexdigest()
    from kvsched.predictors import build_predictor
    p = build_predictor({"name": "bucket_median", "prior": 20, "window": 3})
    prompt = np.array([10, 12, 100])                  # buckets 3, 3, 6 (tokens)
    assert p.predict(np.arange(3), prompt, [None] * 3, None).point.tolist() == [20, 20, 20]
    p.observe(np.arange(4), np.full(4, 10), [None] * 4, np.array([1000, 5, 7, 9]))   # the window keeps 5, 7, 9
    got = p.predict(np.arange(3), prompt, [None] * 3, None)
    assert got.point.tolist() == [7, 7, 20] and got.lo.tolist() == [5, 5, 20] and got.hi.tolist() == [8, 8, 20]
    with pytest.raises(ConfigError, match="prior and window must be >= 1"):
        build_predictor({"name": "bucket_median", "window": 0})


def _readme_plugin_blocks(heading: str) -> tuple[list[str], list[str]]:
    """The python blocks and the ``kvsched run`` commands (continuations joined) of a README subsection."""
    text = (ROOT / "README.md").read_text()
    sec = text.split(heading + "\n", 1)[1].split("\n#", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", sec, re.S)
    runs = [c for lang, b in blocks if lang == "bash" for c in b.replace("\\\n", " ").splitlines()
            if c.startswith("kvsched run ")]
    return [b for lang, b in blocks if lang == "python"], runs


def test_readme_predictor_and_trace_examples_run_as_written(tmp_path, monkeypatch):
    """The README's predictor is examples/my_predictor.py; its trace, saved as my_trace.py, runs
    with the command shown."""
    (pred,), pred_runs = _readme_plugin_blocks("### Your own predictor")
    assert pred.strip() in open(PREDICTOR_EXAMPLE).read()
    (trace,), trace_runs = _readme_plugin_blocks("### Your own trace generator")
    (tmp_path / "my_trace.py").write_text(trace)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for k, cmd in enumerate(pred_runs + trace_runs):
        out = tmp_path / f"run{k}"
        assert main(cmd.split()[1:] + ["sim.progress=false", f"out={out}"]) == 0, cmd
        s = json.loads((out / "summary.json").read_text())
        assert s["metrics"]["completed"] == s["metrics"]["requests"] > 0
    assert len(pred_runs) == len(trace_runs) == 1
    assert s["config"]["trace"] == {"name": "bursts", "n": 200, "size": 10, "gap": 40.0}
    assert s["resolved"]["memory_capacity"] == 500 and s["metrics"]["time_unit"] == "rounds"


def test_a_failed_parameter_check_names_the_algorithm(tmp_path):
    """``Params.validate`` errors, built-in or a plugin's (a ValueError too), say whose values they are."""
    with pytest.raises(ConfigError, match=r"algorithm 'gsa': beta=1\.0 must be > 1"):
        _run(["algorithm=gsa", "algorithm.beta=1.0"])
    checked = _plugin(tmp_path, "checked", """
        from dataclasses import dataclass
        from kvsched.policies import Policy, register_policy

        @register_policy
        class Checked(Policy):
            name = "checked_headroom"

            @dataclass(frozen=True)
            class Params:
                headroom: float = 0.1
                def validate(self):
                    if not 0 <= self.headroom < 1:
                        raise ValueError("headroom must be in [0, 1)")

            def admit(self, view):
                return []
    """)
    with pytest.raises(ConfigError, match=r"algorithm 'checked_headroom': headroom must be in \[0, 1\)"):
        _run([f"plugins=[{checked}]", "algorithm=checked_headroom", "algorithm.headroom=2.0"])

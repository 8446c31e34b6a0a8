"""Command line: ``kvsched run <overrides>``, ``kvsched data fetch|verify``, ``kvsched list``,
``kvsched compare [paths]``, ``kvsched experiment <name>``, ``kvsched bench``,
``kvsched engine <overrides>`` (real-engine replay), ``kvsched optimum <overrides>`` (OPT's bracket)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import KvschedError


def _num(x, unit: str) -> str:
    """A metric for the one-line summary; metrics over no completed request are None."""
    return "n/a" if x is None else f"{x:.4g} {unit}"


def _rejections(m: dict) -> str:
    reasons = m.get("rejected_by_reason") or {}
    return f" ({', '.join(f'{k}: {v}' for k, v in reasons.items())})" if reasons else ""


def _cmd_run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from .config import compose
    from .runner import run

    cfg = compose(args.overrides)
    if args.cfg:
        print(OmegaConf.to_yaml(cfg))
        return 0
    summary = run(cfg)
    m = summary["metrics"]
    u = m["time_unit"]
    print(f"{cfg.algorithm.name} on {cfg.trace.name} (M={summary['resolved']['memory_capacity']}): "
          f"{m['completed']}/{m['requests']} completed, {m['rejected']} rejected{_rejections(m)}, "
          f"mean latency {_num(m['latency_mean'], u)}, p99 {_num(m['latency_p99'], u)}, "
          f"evictions {m['evictions']}, simulated in {summary['timing']['simulate_s']:.2f} s -> {cfg.out}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .datastore import fetch, resolve_data_dir, verify

    d = resolve_data_dir(args.data_dir)
    if args.action == "verify" and (args.force or args.mirror is not None):
        print(f"kvsched: error: {'--force' if args.force else '--mirror'} applies to `kvsched data fetch`, "
              f"not to verify, which only checks the files in {d}", file=sys.stderr)
        return 2
    if args.action == "verify":
        st = verify(d, keys=args.keys or None)
        for k, v in st.items():
            print(f"{v:9s} {k}")
        print(f"data dir: {d}")
        missing = [k for k, v in st.items() if v == "missing"]
        wrong = [k for k, v in st.items() if v == "mismatch"]
        if missing or wrong:
            from .datastore import fetch_command
            said = ([f"{len(missing)} file(s) missing (`{fetch_command(missing, d)}` downloads them)"] if missing else []) + \
                ([f"{len(wrong)} file(s) differ from their sha256, corrupted, truncated or edited "
                  f"(`{fetch_command(wrong, d, force=True)}` replaces them)"] if wrong else [])
            print(f"kvsched: error: data files in {d}: {'; '.join(said)}", file=sys.stderr)
        return 0 if all(v == "ok" for v in st.values()) else 1
    st = fetch(d, keys=args.keys or None, force=args.force, mirror=args.mirror)
    bad = [k for k, v in st.items() if v == "mismatch"]
    if bad:   # left in place: a pipeline run after `verify || fetch` would stop on it anyway
        from .datastore import fetch_command
        print(f"kvsched: error: {len(bad)} file(s) in {d} differ from their sha256 and were left as "
              f"they are: {', '.join(bad)}. Replace them with `{fetch_command(bad, d, force=True)}`, "
              f"or set KVSCHED_NO_CHECKSUM=1 to use them anyway.", file=sys.stderr)
        return 1
    return 0


def _yaml_scalar(v) -> str:
    """A default as it is written in an override (null, true/false, the value otherwise)."""
    return "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _cmd_list(args: argparse.Namespace) -> int:
    from .config.compose import group_options
    from .plugins import load_plugins
    from .policies import list_policies
    from .predictors import list_predictors
    from .traces import list_traces

    load_plugins(args.plugin)
    names = {"algorithm": list_policies(), "predictor": list_predictors(), "trace": list_traces(),
             "latency": group_options("latency"), "experiment": group_options("experiment")}
    if not args.long:
        print(json.dumps(names, indent=2))
        return 0
    from .plugins import catalog

    entries = {**catalog(), "latency": {n: _latency_entry(n) for n in names["latency"]},
               "experiment": {n: _experiment_entry(n) for n in names["experiment"]}}
    w = max(20, *(len(n) for members in names.values() for n in members))   # a name never runs into its text
    for group, members in names.items():
        print(f"{group}:")
        for n in members:
            doc, node = entries[group][n]
            print(f"  {n:<{w}} {doc}")
            keys = ", ".join(f"{k}={_yaml_scalar(v)}" for k, v in node.items() if not (k == "name" and v == n))
            if keys:
                print(f"  {'':<{w}} {keys}")
        print()
    return 0


def _latency_entry(name: str) -> tuple[str, dict]:
    """A latency option's description (its YAML's first comment line) and its keys."""
    from omegaconf import OmegaConf

    from .config.compose import conf_dir

    path = conf_dir() / "latency" / f"{name}.yaml"
    first = path.read_text().splitlines()[:1]
    doc = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
    return doc, OmegaConf.to_container(OmegaConf.load(path))


def _experiment_entry(name: str) -> tuple[str, dict]:
    """An experiment preset's description (one line) and how it runs: a module experiment with
    `kvsched experiment NAME`, a sweep with Snakemake; its scales."""
    from omegaconf import OmegaConf

    from .config.compose import conf_dir

    spec = OmegaConf.to_container(OmegaConf.load(conf_dir() / "experiment" / f"{name}.yaml")) or {}
    doc = " ".join(str(spec.get("description") or "").split())
    scales = "/".join(spec.get("params") or {}) or "quick"
    return doc, {"kind": spec.get("kind", "sweep"), "scales": scales}


def _cmd_experiment(args: argparse.Namespace) -> int:
    from .experiments import run_experiment

    out = run_experiment(args.name, args.scale, args.set or [], args.out, args.data_dir)
    print(f"experiment {args.name} done -> {out}")
    return 0


def _cmd_engine(args: argparse.Namespace) -> int:
    from .config import compose
    from .config.compose import split_override
    from .engine.runner import default_out, run

    cfg = compose(args.overrides)
    model = json.loads(args.model_json) if args.model_json else args.model
    engine = {"model": model, "device": args.device, "dtype": args.dtype, "clock": args.clock,
              "timer": args.timer, "threads": args.threads}
    if not any(split_override(o)[0] == "out" for o in args.overrides):
        cfg.out = default_out(cfg.out, engine)      # not the folder `kvsched run` writes
    summary = run(cfg, engine)
    m, e = summary["metrics"], summary["engine"]
    u = m["time_unit"]                              # rounds for a trace in rounds
    print(f"{cfg.algorithm.name} on {cfg.trace.name} (M={summary['resolved']['memory_capacity']}) through "
          f"{e['label']} ({e['dtype']}, clock {e['clock']}): {m['completed']}/{m['requests']} completed, "
          f"{m['rejected']} rejected{_rejections(m)}, mean latency {_num(m['latency_mean'], u)}, "
          f"p99 {_num(m['latency_p99'], u)}, evictions {m['evictions']}, "
          f"{summary['timing']['iterations']} iterations -> {cfg.out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .analysis.compare import DEFAULT_ROOT, compare_table, render
    from .errors import DataError
    from .io import atomic_write

    df = compare_table(args.paths or [DEFAULT_ROOT], sort=args.sort)
    print(render(df))
    if args.csv:
        # nullable dtypes: a whole-number parameter missing in some runs stays whole (500, not 500.0)
        table = df.drop(columns=["done", "predictor_shown", "settings"]).convert_dtypes()
        try:
            atomic_write(Path(args.csv), lambda p: table.to_csv(p, index=False))
        except OSError as e:
            raise DataError(f"cannot write {args.csv}: {e.strerror or e}") from None
        print(f"{len(df)} runs -> {args.csv}")
    return 0


def _cmd_optimum(args: argparse.Namespace) -> int:
    """Bracket OPT for the configured trace and M, and set the configured policy against it,
    both in unit rounds (docs/optimum.md)."""
    import numpy as np
    from omegaconf import OmegaConf

    from .config import compose
    from .config.compose import result_settings
    from .errors import ConfigError
    from .io import write_json
    from .latency.base import unit_rounds
    from .optimum.solve import PROVE_TIME_LIMIT, bracket
    from .policies import build_policy
    from .policies.registry import check_predictor
    from .predictors import build_predictor
    from .provenance import provenance
    from .runner import load_inputs
    from .sim.engine import simulate

    prov = provenance()                 # the code version that runs, not the one at the end
    c = OmegaConf.to_container(compose(args.overrides), resolve=True)
    inputs = load_inputs(c)
    prov["plugins"] = inputs.plugins
    seed, wl, M = inputs.seed, inputs.workload, inputs.capacity
    if args.round_s is not None:
        if wl.time_unit != "s" or not args.round_s > 0:
            raise ConfigError(f"--round-s takes a positive number of seconds and a trace in seconds "
                              f"(got {args.round_s} for a trace in {wl.time_unit})")
        wl = wl.with_arrivals(wl.arrival / args.round_s, "rounds")
    unit = unit_rounds()
    # the policy and its predictor are built, and their pairing checked, before the bracket's minutes
    policy = build_policy(c["algorithm"], capacity=M, seed=seed + 1, latency=unit)
    predictor = build_predictor(c["predictor"], seed=seed + 2)
    check_predictor(type(policy), type(predictor))
    try:
        b = bracket(wl, M, args.time_limit, prove_n=args.prove_n, prove_time_limit=PROVE_TIME_LIMIT if args.prove_limit is None else args.prove_limit)
    except ValueError as e:
        raise ConfigError(f"{e}{' (--round-s reads a trace in seconds as rounds)' if wl.time_unit == 's' else ''}") \
            from None
    rec = simulate(wl, policy, predictor, M, unit)
    alg = float(np.sum(rec.completion - wl.arrival)) if not np.any(np.isnan(rec.completion)) else None
    name = c["algorithm"]["name"]
    print(f"{wl.name}: {len(wl)} requests, M={M}; total latency in rounds (sum of completion - arrival)")
    print(f"OPT {'= ' + format(b.upper, 'g') + ' (proven)' if b.proven else f'in [{b.lower:g}, {b.upper:g}]'}; "
          f"lower bound from {b.lower_method}, best schedule from {b.method}")
    print(f"{name}: " + ("did not complete every request" if alg is None else
                         f"{alg:g}, {name}/OPT " + (f"= {alg / b.upper:.4f}" if b.proven else
                                                    f"in [{alg / b.upper:.4f}, {alg / b.lower:.4f}]")))
    if args.json:
        write_json(args.json, {"trace": wl.name, "n": len(wl), "memory": M, "lower": b.lower, "upper": b.upper,
                               "proven": b.proven, "opt": b.opt, "lower_method": b.lower_method,
                               "upper_method": b.method, "starts": b.starts.tolist(), "bounds": b.bounds,
                               "heuristics": b.heuristics, "algorithm": name, "algorithm_total": alg,
                               "info": b.info, "config": result_settings(c),
                               "options": {"time_limit": args.time_limit, "prove_n": args.prove_n,
                                           "prove_limit": args.prove_limit, "round_s": args.round_s},
                               "provenance": prov})
        print(f"-> {args.json}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main([a for a in args.bench_args if a != "--"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kvsched", description="LLM inference scheduling under KV-cache limits")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="simulate one configuration (Hydra overrides, e.g. algorithm=mcsf)")
    r.add_argument("overrides", nargs="*")
    r.add_argument("--cfg", action="store_true", help="print the resolved config and exit")
    r.set_defaults(func=_cmd_run)
    d = sub.add_parser("data", help="verify or download the reference data files (sha256-checked)")
    d.add_argument("action", choices=["fetch", "verify"])
    d.add_argument("keys", nargs="*", default=[], help="manifest keys (default: all)")  # a default keeps it optional
    d.add_argument("--data-dir", default=None)
    d.add_argument("--force", action="store_true", help="re-download files whose checksum differs")
    d.add_argument("--mirror", default=None, metavar="URL|DIR",
                   help="fetch from <URL|DIR>/<file's path in the data dir> instead of the upstream URLs "
                        "(https://, file:// or a folder; default $KVSCHED_DATA_MIRROR); sha256 still checked")
    d.set_defaults(func=_cmd_data)
    ls = sub.add_parser("list", help="list the algorithms, predictors, traces, latency models and experiment "
                                     "presets (module: kvsched experiment NAME; sweep: snakemake)")
    ls.add_argument("--plugin", action="append", default=[],
                    help="also import this plugin (a .py file or a module; repeatable), as plugins=[...] does")
    ls.add_argument("-l", "--long", action="store_true",
                    help="one line of description per entry and its parameters with their defaults")
    ls.set_defaults(func=_cmd_list)
    e = sub.add_parser("experiment", help="run a module experiment preset (conf/experiment/<name>.yaml)")
    e.add_argument("name", help="a module experiment (kvsched list shows them, with their kind)")
    e.add_argument("--scale", default=None, help="quick (default) or full")
    e.add_argument("--set", action="append", help="override a parameter: key=value (repeatable)")
    e.add_argument("--out", default=None, help="output directory (default results/<name>)")
    e.add_argument("--data-dir", default=None)
    e.set_defaults(func=_cmd_experiment)
    g = sub.add_parser("engine", help="replay one configuration through the real engine (needs the engine extra)")
    g.add_argument("overrides", nargs="*", help="as for 'run' (the latency group is not used)")
    g.add_argument("--model", default="tiny", help="model preset: tiny (CPU) or llama2_7b (CUDA)")
    g.add_argument("--model-json", default=None, help="explicit LlamaConfig fields as JSON (overrides --model)")
    g.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    g.add_argument("--dtype", default="auto", help="auto (bf16 on cuda, fp32 on cpu), float32, bfloat16, float16")
    g.add_argument("--clock", default="virtual", choices=["virtual", "wall"],
                   help="virtual: measured round durations, idle gaps skipped; wall: real time")
    g.add_argument("--timer", default="wall", choices=["wall", "process"],
                   help="virtual clock: round durations in wall time, or in this process's CPU time (shared CPUs)")
    g.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 with --timer process, which needs one)")
    g.set_defaults(func=_cmd_engine)
    c = sub.add_parser("compare", help="the runs in some folders side by side (default results/runs/adhoc)")
    c.add_argument("paths", nargs="*", help="run folders, summary.json files, or folders searched for them")
    c.add_argument("--sort", default="latency_mean",
                   help="the metric to rank by within each trace and M, smallest first: latency_mean "
                        "(default), latency_p50/p90/p99, latency_total, ttft_mean, ttft_p50/p90/p99, "
                        "makespan, evictions, wasted_decode_tokens, wasted_prefill_tokens, rejected, "
                        "memory_peak, energy_j, energy_per_token_j or simulate_s; largest first: "
                        "throughput_rps (requests per time unit), throughput_tokens or completed")
    c.add_argument("--csv", default=None, metavar="FILE", help="also write every column of every run to FILE")
    c.set_defaults(func=_cmd_compare)
    o = sub.add_parser("optimum", help="bracket the hindsight optimum of one trace and M (unit rounds), "
                                       "and the configured algorithm's total latency against it")
    o.add_argument("overrides", nargs="*", help="as for 'run' (trace, memory.capacity, algorithm, predictor, seed)")
    o.add_argument("--time-limit", type=float, default=10.0,
                   help="CP-SAT budget in deterministic units (one worker: reproducible; used up to 25 requests)")
    o.add_argument("--prove-n", type=int, default=0, help="then one long CP-SAT run to prove OPT, up to this many requests")
    o.add_argument("--prove-limit", type=float, default=None, help="its budget in deterministic units (default 300)")
    o.add_argument("--round-s", type=float, default=None, metavar="SECONDS",
                   help="a trace in seconds: read arrivals as rounds of this many seconds (arrival / SECONDS)")
    o.add_argument("--json", default=None, metavar="FILE", help="also write the bracket, schedule and bounds to FILE")
    o.set_defaults(func=_cmd_optimum)
    b = sub.add_parser("bench", help="simulator throughput benchmarks")
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    b.set_defaults(func=_cmd_bench)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its own option parser
        argv = ["bench", "--", *argv[1:]] if len(argv) > 1 else argv
    # options and positionals in any order (`fetch --force KEY`, `engine OVERRIDES --device cpu
    # out=DIR`): parse_args would leave a positional after an option unparsed
    intermixed = {"data": d, "run": r, "engine": g, "compare": c, "optimum": o}
    if argv[:1] and argv[0] in intermixed:
        args = intermixed[argv[0]].parse_intermixed_args(argv[1:])
    else:
        args = p.parse_args(argv)
    try:
        return args.func(args)
    except KvschedError as e:
        print(f"kvsched: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:          # outputs are written atomically: nothing half-written is left
        print("kvsched: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:            # e.g. `kvsched list --long | head`: the reader left
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        return 0
    except Exception as e:             # a bug in a user's plugin: show its frames, not ours
        from .plugins import failure_in_plugin
        msg = failure_in_plugin(e)
        if msg is None:
            raise
        print(f"kvsched: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

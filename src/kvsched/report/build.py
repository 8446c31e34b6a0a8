"""Build ``paper/report.md`` from the experiments' ``claims.json`` files and figures.

Usage: ``python -m kvsched.report.build --out paper/report.md results/*/claims.json``

The template is ``paper/templates/report.md`` (``string.Template`` placeholders). Figures
are copied into ``paper/figures/<experiment>/`` so the report is self-contained.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from string import Template

from ..errors import exits_on_error
from ..io import atomic_write
from ..provenance import provenance

ROOT = Path(__file__).resolve().parents[3]
MARK = {True: "yes", False: "**no**", None: "n/a"}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        return f"[{_fmt(v[0])}, {_fmt(v[1])}]"
    return str(v).replace("|", "\\|").replace("\n", " ")


def section(c: dict, out_dir: Path, src_dir: Path, first_figure: int = 1) -> tuple[str, int]:
    """One experiment's part of the report, its figures numbered from ``first_figure``, and the
    number of the figure after its last."""
    lines = [f"## {c['experiment']}", ""]
    if c.get("description"):
        lines += [c["description"], ""]
    if c["claims"]:
        lines += ["| paper | claim | paper's value | ours | reproduced | notes |", "|---|---|---|---|---|---|"]
        for r in c["claims"]:
            lines.append(f"| {_fmt(r['paper'])} | {_fmt(r['claim'])} | {_fmt(r['paper_value'])} | "
                         f"{_fmt(r['ours'])} | {MARK[r['reproduced']]} | {_fmt(r.get('note', ''))} |")
        lines.append("")
    else:
        lines += ["_No claims recorded for this experiment._", ""]
    n = first_figure
    for f in c.get("figures", []):
        src = src_dir / f
        if src.exists():
            dest = out_dir / "figures" / c["experiment"] / f
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            caption = (c.get("captions") or {}).get(f) or c.get("description", "")
            lines += [f"![Figure {n}: {c['experiment']}, {Path(f).stem}](figures/{c['experiment']}/{f})", "",
                      f"*Figure {n} (`figures/{c['experiment']}/{f}`).* {_fmt(caption)}", ""]
            n += 1
    return "\n".join(lines), n


def _sections(docs: list[dict], files: list[Path], out_dir: Path) -> str:
    """The experiments' sections, figures numbered through the whole report."""
    parts, n = [], 1
    for d, f in zip(docs, files):
        text, n = section(d, out_dir, Path(f).parent, n)
        parts.append(text)
    return "\n".join(parts)


def _label(commit, dirty, diff=None) -> str:
    """A code version: the commit, and for a tree that differed from it, the sha256 of the
    difference (``diff``, where recorded), so two uncommitted states are two versions."""
    if not dirty:
        return f"`{(commit or 'unknown')[:12]}`"
    known = f" (diff `{diff[:8]}`)" if isinstance(diff, str) and diff else ""
    return f"`{(commit or 'unknown')[:12]}` with uncommitted changes{known}"


def result_versions(claims_file: Path) -> dict[str, int]:
    """Code versions that produced an experiment's results, read beside its ``claims.json``:
    ``done.json`` (a module experiment) or the ``git_commit`` column of ``runs.parquet`` (a
    sweep, one row per run). Maps a version label to its number of runs; {} if neither is there."""
    d = Path(claims_file).parent
    if (d / "done.json").exists():
        g = json.loads((d / "done.json").read_text()).get("provenance", {}).get("git", {})
        return {_label(g.get("commit"), g.get("dirty"), g.get("diff_sha256")): 1}
    if (d / "runs.parquet").exists():
        from ..io import read_table
        df = read_table(d / "runs.parquet")
        if "git_commit" not in df:
            return {}
        dirty = df["git_dirty"] if "git_dirty" in df else [None] * len(df)
        diff = df["git_diff_sha256"] if "git_diff_sha256" in df else [None] * len(df)
        labels = [_label(c, x, h) for c, x, h in zip(df["git_commit"], dirty, diff)]
        return {k: labels.count(k) for k in dict.fromkeys(labels)}
    return {}


def versions_note(claim_files: list[Path], names: list[str], current: str) -> str:
    """A paragraph for the report when its results do not all come from the code version that
    builds it (``current``): which experiments ran on which version. Empty otherwise."""
    per = {n: result_versions(f) for n, f in zip(names, claim_files)}
    seen = {v for vs in per.values() for v in vs}
    if not seen or seen == {current}:
        return ""
    parts = []
    for v in sorted(seen):
        exps = [f"{n} ({vs[v]} of {sum(vs.values())} runs)" if len(vs) > 1 else n
                for n, vs in per.items() if v in vs]
        parts.append(f"{v}: {', '.join(exps)}")
    return ("\n**Code versions.** Not every result below comes from the version that built this "
            "report. " + "; ".join(parts) + ". Rerun the experiments (`snakemake --forceall`) for "
            "results from one version.\n")


def build(claim_files: list[Path], out: Path, template: Path | None = None) -> str:
    template = template or ROOT / "paper" / "templates" / "report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(claim_files)
    docs = [json.loads(Path(f).read_text()) for f in files]
    rows = [r for d in docs for r in d["claims"]]
    prov = provenance()
    versions = versions_note(files, [d["experiment"] for d in docs],
                             _label(prov["git"]["commit"], prov["git"]["dirty"], prov["git"].get("diff_sha256")))
    text = Template(template.read_text()).substitute(
        versions=versions,
        commit=prov["git"]["commit"] or "unknown",
        dirty=" (with uncommitted changes)" if prov["git"]["dirty"] else "",
        n_claims=len(rows),
        n_yes=sum(r["reproduced"] is True for r in rows),
        n_no=sum(r["reproduced"] is False for r in rows),
        n_na=sum(r["reproduced"] is None for r in rows),
        sections=_sections(docs, files, out.parent),
        provenance="\n".join(f"- {k}: {'not installed' if v is None else v}" for k, v in prov["packages"].items())
        + f"\n- platform: {prov['platform']}",
    )
    atomic_write(out, lambda p: p.write_text(text))
    return text


@exits_on_error
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="paper/report.md")
    ap.add_argument("--template", default=None, help="default: paper/templates/report.md of the checkout")
    ap.add_argument("claims", nargs="+")
    a = ap.parse_args(argv)
    build([Path(c) for c in a.claims], Path(a.out), Path(a.template) if a.template else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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


def section(c: dict, out_dir: Path, src_dir: Path) -> str:
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
    for f in c.get("figures", []):
        src = src_dir / f
        if src.exists():
            dest = out_dir / "figures" / c["experiment"] / f
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            lines += [f"![{c['experiment']}: {Path(f).stem}](figures/{c['experiment']}/{f})", ""]
    return "\n".join(lines)


def build(claim_files: list[Path], out: Path, template: Path | None = None) -> str:
    template = template or ROOT / "paper" / "templates" / "report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    docs = [json.loads(Path(f).read_text()) for f in sorted(claim_files)]
    rows = [r for d in docs for r in d["claims"]]
    prov = provenance()
    text = Template(template.read_text()).substitute(
        commit=prov["git"]["commit"] or "unknown",
        dirty=" (with uncommitted changes)" if prov["git"]["dirty"] else "",
        n_claims=len(rows),
        n_yes=sum(r["reproduced"] is True for r in rows),
        n_no=sum(r["reproduced"] is False for r in rows),
        n_na=sum(r["reproduced"] is None for r in rows),
        sections="\n".join(section(d, out.parent, Path(f).parent) for d, f in zip(docs, sorted(claim_files))),
        provenance="\n".join(f"- {k}: {v}" for k, v in prov["packages"].items()) + f"\n- platform: {prov['platform']}",
    )
    atomic_write(out, lambda p: p.write_text(text))
    return text


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

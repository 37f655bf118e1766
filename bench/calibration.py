"""Where to fit vggcolor's confidence head: the experiments of vggcolor-v3's card (a calibration split).

    python bench/calibration.py dump --data /work/data/colorizer --clips /work/data/val/bikes.mp4 \
        --out /work/cache/calib
    python bench/calibration.py dump --extra /work/data/calibration/palapeli --out /work/cache/calib
    python bench/calibration.py fit --tables /work/cache/calib --baselines --recal --finetune 100 \
        --losses diff --stats-only 8 --configs 16:1000:1e-4 --globals --train-losses error diff decision

``dump`` runs the frozen colorizer (vggcolor-v2) once over the training split, the held-out split
(tagged by half: ``calibration`` or ``report``, ``oldfilm.train.colorizer.held_out_half``) and the
clips, and keeps per picture what the head sees (its inputs at the logits' resolution), the decoded
a*b* and the truth at the render size. ``fit`` then fits heads on different sets and scores every
design with the render-size proxy of vggcolor-v2's card (the chroma of the chosen scale, upsampled,
with the shadow ramp, joined to the truth's L*; ΔE2000 and colourfulness per picture), so a
design costs seconds instead of a pass of the network (the calibration set is the calibration half
plus every extra tree dumped, e.g. palapeli). Choices may read the calibration column only (for a
head fitted on it: the cross-validation inside it, printed as "cv"); the report half and the clips
are scored once per design. Runs with one torch thread (faster than two on a shared machine).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from oldfilm import weights
from oldfilm.metrics import colourfulness, delta_e2000
from oldfilm.nets.vggcolor import SCALES, Confidence
from oldfilm.ops.color import lab_to_rgb
from oldfilm.train.colorizer import _collect, held_out_half, in_val_split, load_items
from oldfilm.train.confidence import fit, output_lab, pixel_table, record, targets


def dump(args) -> None:
    torch.set_num_threads(args.threads)
    net = weights.load(args.model).eval()
    transforms = weights.get(args.model).transforms
    if args.extra:   # a tree the colorizer never saw (DIR/calibration of bench/colorizer_data.py): all of it
        groups = {args.extra.name: _collect((args.extra,))}
    else:
        files = _collect((args.data,))
        groups = {"train": [f for f in files if not in_val_split(f[1], 0.15)]}
        if not args.only_train:
            groups = {**{half: [f for f in files if held_out_half(f[1]) == half] for half in ("calibration", "report")},
                      **{c.stem: [(c, c.name)] for c in args.clips}, **groups}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, group in groups.items():
        items, _ = load_items(group, 384, 1.0)
        recs = [{"name": it.name, **record(net, transforms, it.rgb)} for it in items]
        torch.save(recs, args.out / f"{name}.pt")
        print(f"{name}: {len(recs)} pictures", flush=True)


# ----------------------------------------------------------------------------- scoring

def score(recs: list[dict], scales: list[torch.Tensor], dark) -> tuple[float, float]:
    """(ΔE2000 as a multiple of gray's, colourfulness as a fraction of the truth's), means over pictures."""
    de = gray = col = true = 0.0
    for rec, s in zip(recs, scales):
        out = output_lab(rec, s, dark)
        de += delta_e2000(out, rec["truth"]).mean().item()
        g = rec["truth"].clone()
        g[1:] = 0
        gray += delta_e2000(g, rec["truth"]).mean().item()
        col += colourfulness(lab_to_rgb(out[None]).clamp(0, 1))[0].item()
        true += colourfulness(lab_to_rgb(rec["truth"][None]).clamp(0, 1))[0].item()
    return de / gray, col / true


# ----------------------------------------------------------------------------- heads

def is_photo(rec: dict) -> bool:
    return not rec["name"].startswith(("tuxpaint", "wesnoth"))


def pixels(recs: list[dict], dark) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [pixel_table(r, dark) for r in recs]
    return torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])


@torch.no_grad()
def predicted(head: Confidence | None, rec: dict) -> torch.Tensor:
    """(K, h, w): the errors each scale is expected to have (the rule's own when ``head`` is None)."""
    x = rec["x"].float()[None]
    return (x[0, :len(SCALES)] * 10) if head is None else head(x)[0]


def scales_of(pred: torch.Tensor, caution: float) -> torch.Tensor:
    return SCALES[(pred + caution * SCALES.view(-1, 1, 1)).argmin(0)]


def folds(recs: list[dict], k: int) -> list[tuple[list[dict], list[dict]]]:
    """k picture-level folds (by position in the hash-ordered list: every k-th picture)."""
    return [([r for i, r in enumerate(recs) if i % k != j], [r for i, r in enumerate(recs) if i % k == j])
            for j in range(k)]


CAUTIONS = (-1.0, -0.5, 0.0, 0.5, 1.0)
DARKS = ((10.0, 30.0), (15.0, 35.0))


class Recalibrated(torch.nn.Module):
    """A head's predicted errors mapped per scale by a least-squares affine fit on other pictures:
    error_k = a_k * pred_k + b_k * pred_0 + c_k."""

    def __init__(self, head: Confidence, coef: torch.Tensor):
        super().__init__()
        self.head, self.coef = head, coef     # (K, 3)

    def forward(self, x):
        p = self.head(x)
        a, b, c = (self.coef[:, i].view(1, -1, 1, 1) for i in range(3))
        return a * p + b * p[:, :1] + c


def recal_fit(head: Confidence, recs: list[dict], dark) -> Recalibrated:
    with torch.no_grad():
        P = torch.cat([predicted(head, r).flatten(1).T for r in recs])
    T = torch.cat([targets(r, dark).flatten(1).T for r in recs])
    coef = []
    for k in range(len(SCALES)):
        A = torch.stack([P[:, k], P[:, 0], torch.ones(len(P))], 1)
        coef.append(torch.linalg.lstsq(A, T[:, k:k + 1]).solution[:, 0])
    return Recalibrated(head, torch.stack(coef))


def design(label: str, make, cal: list[dict], row, dark, cautions=CAUTIONS) -> None:
    """A head made by ``make(pictures)``: cross-validated inside the calibration set (4 folds by
    picture, photos scored), then made on all of it and scored on every set."""
    cv = {c: [] for c in cautions}
    for train, test in folds(cal, 4):
        head = make(train)
        photos = [r for r in test if is_photo(r)]
        for c in cautions:
            cv[c].append(score(photos, [scales_of(predicted(head, r), c) for r in photos], dark))
    print(f"cv {label}, dark {dark}: " + ", ".join(
        f"c {c:g} {sum(v[0] for v in cv[c]) / 4:.3f}x/{100 * sum(v[1] for v in cv[c]) / 4:.0f}%" for c in cautions),
        flush=True)
    head = make(cal)
    row(f"{label} on the calibration set", lambda r: head, dark, cautions)


def fit_head(recs_or_X, T=None, *, hidden: int = 32, steps: int = 1000, lr: float = 3e-3, wd: float = 1e-5,
             init: Confidence | None = None, dark=(15.0, 35.0), loss_kind: str = "error", inputs: int | None = None):
    """A head fitted on pictures (or on rows X, T); ``inputs``: only the first so many inputs."""
    X, T = pixels(recs_or_X, dark) if T is None else (recs_or_X, T)
    torch.manual_seed(0)
    head = Confidence(inputs or X.shape[1], hidden)
    if init is not None:
        head.load_state_dict(init.state_dict())
    fit(head, X[:, :inputs] if inputs else X, T, steps, lr=lr, weight_decay=wd, normalise=init is None,
        loss_kind=loss_kind)
    return StatsOnly(inputs, head) if inputs else head


class StatsOnly(torch.nn.Module):
    """A head that sees only the first ``n`` inputs (the statistics, not the decoder's features)."""

    def __init__(self, n: int, head: Confidence):
        super().__init__()
        self.n, self.head = n, head

    def forward(self, x):
        return self.head(x[:, :self.n])


def designs(args, cal, v3, row) -> None:
    from oldfilm.nets.vggcolor import CONF_INPUTS

    for dark in DARKS if args.recal else ():
        design("v3 head recalibrated", lambda recs: recal_fit(v3, recs, dark), cal, row, dark)
    for steps in args.finetune:
        design(f"v3 head fine-tuned ({steps} steps, lr 3e-4)",
               lambda recs: fit_head(recs, steps=steps, lr=3e-4, init=v3), cal, row, (15.0, 35.0))
    for kind in args.losses:
        design(f"v3 head fine-tuned on '{kind}' (600 steps, lr 1e-3)",
               lambda recs: fit_head(recs, steps=600, lr=1e-3, init=v3, loss_kind=kind), cal, row, (15.0, 35.0),
               (-1.0, -0.5, 0.0, 0.5))
    for hidden in args.stats_only:
        design(f"stats-only head (hidden {hidden}, 1000 steps)",
               lambda recs: fit_head(recs, hidden=hidden, wd=1e-4, inputs=CONF_INPUTS), cal, row, (15.0, 35.0),
               (-3.0, -2.0, -1.0, 0.0))
    for dark in DARKS if args.configs else ():
        for hidden, steps, wd in args.configs:
            design(f"head from scratch (hidden {hidden}, {steps} steps, wd {wd:g})",
                   lambda recs: fit_head(recs, hidden=hidden, steps=steps, wd=wd, dark=dark), cal, row, dark)
    if args.train_losses:
        train = torch.load(args.tables / "train.pt", weights_only=True)
        X, T = pixels(train, (15.0, 35.0))
        print(f"training split: {len(train)} pictures, {len(X)} pixels", flush=True)
        for kind in args.train_losses:
            head = fit_head(X, T, steps=3000, loss_kind=kind)
            row(f"'{kind}' head on the training split (3000 steps)", lambda r: head, (15.0, 35.0),
                (-2.0, -1.0, -0.5, 0.0, 0.5))


def global_strength(cal, v3, dark=(15.0, 35.0), caution=0.0) -> None:
    """Per photo: the best global multiplier of the head's per-pixel scales (an oracle) and
    picture statistics a predictor could use."""
    photos = [r for r in cal if is_photo(r)]
    best, rows = [], []
    for r in photos:
        s = scales_of(predicted(v3, r), caution)
        errs = [score([r], [g * s], dark)[0] for g in SCALES.tolist()]
        g = SCALES[int(torch.tensor(errs).argmin())].item()
        best.append(g * s)
        p = predicted(v3, r)
        x = r["x"].float()
        k = len(SCALES)
        stats = {"gain": (p[0] - p.min(0).values).mean().item(), "entropy": (x[k + 4] * 5).mean().item(),
                 "mean_scale": s.mean().item(), "rule_gain": ((x[0] - x[:k].min(0).values) * 10).mean().item()}
        rows.append((g, errs[-1], min(errs), stats))
        print(f"{r['name'][:40]:40s} best g {g:.1f}  de(g=1) {errs[-1]:.3f}x  best {min(errs):.3f}x  "
              + " ".join(f"{k} {v:.2f}" for k, v in stats.items()), flush=True)
    print("oracle global on cal photos (x gray / colour):", score(photos, best, dark))
    gs = torch.tensor([r[0] for r in rows])
    for k in rows[0][3]:
        v = torch.tensor([r[3][k] for r in rows])
        print(f"corr(best g, {k}) = {torch.corrcoef(torch.stack([gs, v]))[0, 1]:.2f}")



def experiments(args) -> None:
    torch.set_num_threads(args.threads)
    load = lambda n: torch.load(args.tables / f"{n}.pt", weights_only=True) if (args.tables / f"{n}.pt").exists() else []  # noqa: E731
    cal = load("calibration") + load("palapeli")
    report, bikes = load("report"), load("bikes")
    v3 = weights.load("vggcolor-v3").confidence
    sets = {"cal photos": [r for r in cal if is_photo(r)], "report photos": [r for r in report if is_photo(r)],
            "report others": [r for r in report if not is_photo(r)], "bikes": bikes}
    print(f"calibration: {len(cal)} pictures ({len(sets['cal photos'])} photos); "
          + ", ".join(f"{k} {len(v)}" for k, v in sets.items()), flush=True)

    def row(label, head_for, dark, cautions=CAUTIONS):
        for c in cautions:
            cells = []
            for k, recs in sets.items():
                de, col = score(recs, [scales_of(predicted(head_for(r), r), c) for r in recs], dark)
                cells.append(f"{de:.3f}x / {100 * col:.0f} %")
            print(f"| {label}, caution {c:g}, dark {dark[0]:g}-{dark[1]:g} | " + " | ".join(cells) + " |", flush=True)

    print("| design | " + " | ".join(sets) + " |\n|---|" + "---|" * len(sets))
    for dark in DARKS if args.baselines else ():
        row("v2 rule", lambda r: None, dark, (0.0,))
        row("v3 head (training split)", lambda r: v3, dark, (-1.0, 0.0))
    designs(args, cal, v3, row)
    if args.globals:
        global_strength(cal, v3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--data", type=Path)
    d.add_argument("--clips", type=Path, nargs="*", default=[])
    d.add_argument("--extra", type=Path, help="instead: every picture of this tree, as one group")
    d.add_argument("--model", default="vggcolor-v2")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--threads", type=int, default=1)
    d.add_argument("--only-train", action="store_true")
    f = sub.add_parser("fit")
    f.add_argument("--tables", type=Path, required=True)
    f.add_argument("--threads", type=int, default=1)
    f.add_argument("--baselines", action="store_true", help="also the rule and vggcolor-v3's head")
    f.add_argument("--recal", action="store_true",
                   help="vggcolor-v3's head, recalibrated per scale on the calibration set")
    f.add_argument("--finetune", nargs="*", type=int, default=[], metavar="STEPS",
                   help="vggcolor-v3's head fine-tuned on the calibration set for these many steps (lr 3e-4)")
    f.add_argument("--train-losses", nargs="*", default=[], metavar="LOSS",
                   help="heads fitted on the training split from scratch with these losses (error, diff, decision)")
    f.add_argument("--losses", nargs="*", default=[], metavar="LOSS",
                   help="vggcolor-v3's head fine-tuned on the calibration set with these losses (diff, decision: "
                        "oldfilm.train.confidence.fit)")
    f.add_argument("--stats-only", nargs="*", type=int, default=[], metavar="HIDDEN",
                   help="heads of this width on the distribution's statistics alone (no decoder features), "
                        "fitted on the calibration set")
    f.add_argument("--globals", action="store_true", help="a per-picture strength: the oracle and image statistics")
    f.add_argument("--configs", nargs="*", default=[], metavar="HIDDEN:STEPS:WD",
                   type=lambda v: (int(v.split(":")[0]), int(v.split(":")[1]), float(v.split(":")[2])))
    args = ap.parse_args()
    {"dump": dump, "fit": experiments}[args.cmd](args)


if __name__ == "__main__":
    main()

"""The reproduction's report: one section per figure (ours, paper, authors' code, why they differ).

:func:`build_report` draws the figures (builders of :mod:`mbi.plots`) and writes ``report.html``
(plotly.js embedded once, viewable offline), ``summary.md`` and ``results.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mbi.runs.reproduce.items import json_default
from mbi.runs.reproduce.profiles import (AUTHORS_BO_LOOKUP_PCT, AUTHORS_QUANTIZED_RAM_PCT, PAPER, PAPER_BO_GAIN_POINTS,
                                        sweep_spec)

def _pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}%"


def _sweep_text(rows: list[dict]) -> str:
    if not rows:
        return "not finished yet"
    best = max(rows, key=lambda r: r["val_acc"])
    knobs = {k: v for k, v in best.items() if k not in ("val_acc", "epochs", "state", "trial")}
    return f"{len(rows)} trainings ({rows[0]['epochs']} epoch(s) each); best {_pct(best['val_acc'])} at {knobs}"


def figure_sections(results: dict[str, Any], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """One section per figure: id, title, plotly figure (None if nothing finished), ours, paper, authors, why."""
    from mbi import plots
    from mbi.hardware.energy import COMPONENTS, TABLE_COLUMNS, format_energy, table_cells

    sweeps = results["sweeps"]
    s = []
    short = cfg["profile"] != "full"
    train_note = ("our trainings are short (profile " + cfg["profile"] + ": "
                  + json.dumps(cfg["sweeps"]["train"]) + "), so accuracies sit below converged ones and "
                  "differences of a point are noise" if short else
                  f"our trainings follow the shipped specs ({spec_training_text(cfg)}), shorter than the paper's")

    def add(fid, title, fig, ours, why):
        paper, authors = PAPER[fid]
        s.append({"id": fid, "title": title, "figure": fig, "ours": ours, "paper": paper, "authors": authors,
                  "why": why})

    for fid, title in (("fig3a", "Fig. 3(a): RAM accuracy vs glimpse knobs"),
                       ("fig3b", "Fig. 3(b): RAM accuracy vs patch and hidden bits")):
        rows = sweeps[fid]
        axes = list(dict.fromkeys(r["axis"] for r in rows))
        fig = plots.sweep_one_at_a_time(rows, axes, title) if rows else None
        add(fid, title, fig, _sweep_text(rows), f"The paper shows trends only; {train_note}.")
    rows = sweeps["fig3c"]
    fig = plots.sweep_grid_lines(rows, "hidden_size", "core_layers", "Fig. 3(c): hidden size and core layers") \
        if rows else None
    add("fig3c", "Fig. 3(c): RAM accuracy vs hidden size and core layers", fig, _sweep_text(rows),
        f"Our core_layers counts all core layers (1 = no extra layer); {train_note}.")

    pts = results["tablesize"]
    ours = "; ".join(f"{p['rows']} rows: {_pct(p['unweighted_accuracy'])} unweighted, "
                     f"{_pct(p['weighted_accuracy'])} BO-weighted" for p in pts) or "not finished yet"
    add("fig4a", "Fig. 4(a): lookup accuracy vs table size", plots.table_size_curve(pts) if pts else None, ours,
        f"Scored on {cfg['test_images']} test images with {cfg['bo_trials']} BO trials on {cfg['val_images']} "
        f"validation images; {bo_gain_text(pts)}")

    tree = results.get("tree")
    fig = ours = None
    if tree:
        fig = plots.distance_error_histogram(tree["hist_counts"], tree["hist_edges"], tree["exact_share"])
        ours = (f"{_pct(tree['exact_share'])} of queries at the brute-force distance, max normalized error "
                f"{tree['max_normalized_error']:.3f}, {tree['fewer_comparisons']:.1f}x fewer comparisons "
                f"({tree['images']} test images, {tree['table_rows']} rows)")
    add("fig4c", "Fig. 4(c): tree vs brute-force distance error", fig, ours or "not finished yet",
        f"Our tree is a FLANN-style k-means tree (branching {cfg['tree']['branching']}, leaves of "
        f"{cfg['tree']['leaf_size']} rows, {cfg['tree']['checks']} leaf/leaves checked per query); "
        "the paper does not state its leaf size or how many queries it measured.")

    mixed = results.get("mixed")
    fig = ours = None
    if mixed:
        at = mixed.get("at_chosen_threshold")
        fig = plots.mixed_mbi_curve(mixed["mixed"], current=at["threshold"] if at else None)
        ours = (f"RAM {_pct(mixed['ram_accuracy'])}, lookup-only {_pct(mixed['lookup_accuracy'])} on "
                f"{mixed['images']} test images ({mixed['table_rows']} rows)")
        if at:
            ours += (f"; at the threshold chosen on validation: {_pct(at['accuracy'])} with "
                     f"{_pct(at['lookup_share'])} by lookup")
    add("fig5", "Fig. 5: mixed MBI", fig, ours or "not finished yet", mixed_text(mixed))

    sram = results.get("sram")
    fig = ours = None
    if sram:
        q = np.asarray(sram["voltage_quantiles_mv"]) * 1e-3
        a, _ = sram["min_gap_between_levels"]
        fig = plots.sum_line_distributions(sram["levels_list"], q, sram["min_gap_mv"] * 1e-3, a)
        ours = (f"min gap {sram['min_gap_mv']:.2f} mV (levels {a}/{a + 1}), {sram['adc_bits']}-bit ADC wrong-code "
                f"rate {100 * sram['adc_error_rate']:.4f}% over {sram['trials']} arrays")
    add("fig6b", "Fig. 6(b): sum-line voltages under V_TH variation", fig, ours or "not finished yet",
        sum_line_text(sram))

    energy = results.get("energy")
    fig6c = fig_t1 = None
    ours6c = ours_t1 = "not finished yet"
    if energy:
        parts, row = energy["match_energy_j"], energy["ours"]
        fig6c = plots.energy_breakdown({k: parts[k] for k in COMPONENTS})
        ours6c = (f"{parts['total'] * 1e12:.3f} pJ per match; per inference {format_energy(row['energy_j'])} "
                  f"({row['traversal']}, our row of Table I)")
        rows = energy["table_one_ours"]
        fig_t1 = plots.table_figure([h for _, h in TABLE_COLUMNS], table_cells(rows), "Table I")
        ours_t1 = (f"{row['work']}: {'-' if row['accuracy_pct'] is None else format(row['accuracy_pct'], '.2f')}%, "
                   f"{'-' if row['storage_mb'] is None else format(row['storage_mb'], '.2f')} MB, "
                   f"{format_energy(row['energy_j'])} per inference")
    add("fig6c", "Fig. 6(c): energy per key match", fig6c, ours6c, match_energy_text(energy))
    add("table1", "Table I: MBI vs compute-in-memory macros", fig_t1, ours_t1, table_one_text(energy))

    family = results.get("scaling")
    fig = None
    if family and family["rows"]:
        fig = plots.model_size_figure(family["rows"], family["summary"])
    add("scaling", "Model size: lookup cost vs network size", fig, scaling_text(family),
        scaling_why(family, bool(cfg.get("scaling"))))

    robust = results.get("robustness")
    fig = plots.robustness_bars(robust["rows"], robust["groups"]) if robust else None
    add("robustness", "Robustness: perturbed digits (beyond the paper)", fig, robustness_text(robust),
        robustness_why(robust, bool(cfg.get("robustness"))))
    for section in fashion_sections(results.get("fashion"), cfg.get("fashion")):
        add(*section)
    return s


def fashion_sections(row: dict[str, Any] | None, fcfg: dict[str, Any] | None) -> list[tuple]:
    """The Fashion-MNIST row's sections (id, title, figure or None, ours, why): its table-size curve, its mixed MBI
    threshold curve (distance gate) and both gates, drawn by the builders the CLI and the dashboard use."""
    from mbi import plots

    titles = {"fashion_fig4a": "Fashion-MNIST: lookup accuracy vs table size (as Fig. 4(a))",
              "fashion_fig5": "Fashion-MNIST: mixed MBI against the distance threshold (as Fig. 5)",
              "fashion_gates": "Fashion-MNIST: mixed MBI per gate (distance vs learned)"}
    if not fcfg:
        off = "not part of this profile (its \"fashion\" setting is off)"
        return [(fid, title, None, off, "-") for fid, title in titles.items()]
    row = row or {"tablesize": []}
    n_test = fcfg["test_images"]
    pts = row["tablesize"]
    ours4a = "; ".join(f"{p['rows']} rows: {_pct(p['unweighted_accuracy'])} unweighted, "
                       f"{_pct(p['weighted_accuracy'])} BO-weighted" for p in pts) or "not finished yet"
    out = [("fashion_fig4a", titles["fashion_fig4a"], plots.table_size_curve(pts, title=titles["fashion_fig4a"])
            if pts else None, ours4a,
            f"Model {fcfg['checkpoint']}; scored on {n_test} Fashion-MNIST test images with {fcfg['bo_trials']} BO "
            f"trials on {fcfg['val_images']} validation images; {bo_gain_text(pts)}")]
    mixed = row.get("mixed")
    fig = None
    ours5 = "not finished yet"
    if mixed:
        at = mixed.get("at_chosen_threshold")
        fig = plots.mixed_mbi_curve(mixed["mixed"], current=at["threshold"] if at else None, paper=None,
                                    title=titles["fashion_fig5"])
        ours5 = (f"RAM {_pct(mixed['ram_accuracy'])}, lookup-only {_pct(mixed['lookup_accuracy'])} on "
                 f"{mixed['images']} Fashion-MNIST test images ({mixed['table_rows']} rows)")
        if at:
            ours5 += (f"; at the distance threshold chosen on validation: {_pct(at['accuracy'])} with "
                      f"{_pct(at['lookup_share'])} by lookup")
    out.append(("fashion_fig5", titles["fashion_fig5"], fig, ours5, fashion_text(mixed)))
    gates = row.get("gate")
    fig = None
    ours_g = "not finished yet" if gates is None else gates.get("reason", "")
    why_g = "The learned gate is compared with the distance gate once the gate item finishes."
    if gates and gates.get("gates"):
        g = gates["gates"]
        marks = {name: r for name in g for r in g[name]["at_share"][-1:] if "threshold" in r}
        fig = plots.gate_curves({name: g[name]["curve"] for name in g},
                                {name: {"lookup_share": r["lookup_share"], "accuracy": r["accuracy"]}
                                 for name, r in marks.items()}, gates["ram_accuracy"], title=titles["fashion_gates"])
        ours_g = (f"ROC AUC for a wrong lookup: learned {g['learned']['auc']:.3f}, distance {g['distance']['auc']:.3f}"
                  + "".join(f"; at the {name} gate's threshold for {100 * r['share']:g}% by lookup (chosen on "
                            f"validation): {_pct(r['accuracy'])} with {_pct(r['lookup_share'])} by lookup"
                            for name in ("learned", "distance") for r in g[name]["at_share"] if "threshold" in r)
                  + f" ({gates['images']} test images, {gates['table_rows']} rows)")
        split, _, count = gates["fitted_on"].partition(":")
        fitted = f"{int(count):,} {'validation' if split == 'val' else split} images" if count.isdigit() else \
            gates["fitted_on"] or "validation images"
        why_g = (f"The learned gate (fitted on {fitted}) predicts wrong lookups from "
                 "each glimpse's distance, its margin to the second-best row and how many near rows agree; the paper "
                 "gates by the largest matched distance alone. RAM alone on these images: "
                 f"{_pct(gates['ram_accuracy'])}.")
    out.append(("fashion_gates", titles["fashion_gates"], fig, ours_g, why_g))
    return out


def fashion_text(mixed: dict[str, Any] | None) -> str:
    """The Fashion-MNIST row against the authors' code on Fashion-MNIST (quantized and float)."""
    from mbi.runs.reproduce.profiles import AUTHORS_FASHION_PCT

    if not mixed:
        return "Compared with the authors' Fashion-MNIST numbers once the mixed item finishes."
    q, f = AUTHORS_FASHION_PCT["quantized"], AUTHORS_FASHION_PCT["float"]
    ram, lookup = 100 * mixed["ram_accuracy"], 100 * mixed["lookup_accuracy"]
    return (f"Our quantized RAM ({model_text(mixed['ram'])}) reaches {ram:.2f}% on these test images, "
            f"{_versus(ram, q['ram'])} the authors' quantized {q['ram']:.2f}% and {_versus(ram, f['ram'])} their "
            f"float {f['ram']:.2f}%; our lookups alone {lookup:.2f}%, {_versus(lookup, q['lookup'])} their quantized "
            f"{q['lookup']:.2f}% and {_versus(lookup, f['lookup'])} their float {f['lookup']:.2f}% (their table: half the "
            f"training images, no weight search; ours: {mixed['table_rows']:,} rows, weights "
            f"{', '.join(f'{w:.3g}' for w in mixed['weights'])}).")


def robustness_text(robust: dict[str, Any] | None) -> str:
    """Per perturbation group: RAM / lookup-only / mixed accuracy and the share answered by lookup."""
    if not robust:
        return "not finished yet"
    learned = robust.get("learned_gate") is not None
    parts = []
    for g in robust["groups"]:
        line = (f"{g['group']}: RAM {_pct(g['ram_accuracy'])}, lookup {_pct(g['lookup_accuracy'])}, mixed "
                f"{_pct(g['mixed_accuracy'])} ({_pct(g['lookup_share'])} by lookup)")
        if learned and g.get("learned_accuracy") is not None:
            line += f", learned gate {_pct(g['learned_accuracy'])} ({_pct(g['learned_lookup_share'])})"
        parts.append(line)
    return f"{robust['images']} test digits; " + "; ".join(parts)


def robustness_why(robust: dict[str, Any] | None, in_profile: bool = True) -> str:
    """What the robustness figure measures with which gate settings, and why lookups suffer more than the RAM."""
    if not robust:
        return ("Measured once the robustness item finishes" if in_profile else
                "Not part of this profile: `python -m mbi robustness`") + "."
    text = (f"The table ({robust['table_rows']:,} rows) memorizes the RAM's episodes on the unperturbed training "
            "digits, so a shifted digit follows none of them exactly; mixed MBI's distance gate uses threshold "
            f"{robust['threshold']:.4g} ({robust['threshold_source']})")
    gate = robust.get("learned_gate")
    if gate:
        text += (f"; the learned gate (fitted on {gate['fitted_on']}) answers by lookup below its threshold "
                 f"{gate['threshold']:.4g}, chosen to answer {100 * gate['share']:.0f}% of the validation digits")
    return text + "; shifts move the mass by exactly k pixels (zero fill), noise is seeded (seed 0)."


def scaling_text(family: dict[str, Any] | None) -> str:
    """The model-size family in one line: members, MAC span, the factors at the largest member."""
    if not family or not family["rows"]:
        return "not finished yet"
    s, rows = family["summary"], family["rows"]
    accs = ", ".join(f"{r['member']} {_pct(r['ram_accuracy'])}/{_pct(r['lookup_accuracy'])}/{_pct(r['mixed_accuracy'])}"
                     for r in rows)
    beats = s["lookup_beats_ram_from"]
    return (f"{s['members']} of {len(family['members'])} RAMs sharing a {s['key_bits'][0]}-bit key over "
            f"{s['macs_span']:.0f}x MACs per image; lookups beat the network in software "
            + (f"from {beats}" if beats else "at no member")
            + f"; at {s['largest']}: {s['time_factor_at_largest']:.1f}x faster batched "
            f"({s['single_time_factor_at_largest']:.1f}x one image at a time), {s['energy_factor_at_largest']:.0f}x "
            f"less energy than the network on {rows[-1]['cim_macro']}; test accuracy RAM/lookup/mixed: {accs}")


def scaling_why(family: dict[str, Any] | None, cfg_has_family: bool = True) -> str:
    """How long the family trained and what the energies assume."""
    if not family or not family["rows"]:
        return ("The paper states the claim without measuring it; measured here once the family finishes"
                + ("" if cfg_has_family else " (not part of this profile: `python -m mbi scaling` or the full profile)")
                + ".")
    t = family["training"]
    images = "the whole training split" if t["train_limit"] is None else f"{t['train_limit']:,} training images"
    stop = "" if t.get("patience") is None else f", early stopping after {t['patience']} evaluations without gain"
    row = family["rows"][-1]
    return (f"Each member trained up to {t['epochs']} epoch(s) on {images}{stop}; the network's energy is its MACs "
            f"x {row['cim_energy_per_mac_j'] * 1e15:.1f} fJ per MAC ({row['cim_macro']}, projected to 16 nm as "
            "Table I), MBI's a measured k-means traversal x the modelled key-match energy; time is this CPU's.")


def spec_training_text(cfg: dict[str, Any]) -> str:
    """How long the Fig. 3 trainings of a profile are, from their specs, e.g. ``4 epochs on 20,000 images``."""
    lengths = []
    for figure in ("fig3a", "fig3b", "fig3c"):
        train = sweep_spec(cfg, figure).base.train
        images = "the whole training split" if train.train_limit is None else f"{train.train_limit:,} images"
        lengths.append(f"{train.epochs} epoch{'s' if train.epochs != 1 else ''} on {images}")
    return "; ".join(dict.fromkeys(lengths))


def _versus(ours: float, theirs: float) -> str:
    """'above' / 'below' / 'level with' for two percentages (to 0.01 points)."""
    return "above" if ours > theirs + 0.005 else "below" if ours < theirs - 0.005 else "level with"


def bo_gain_text(points: list[dict]) -> str:
    """Fig. 4(a): how much BO weighting gains over unweighted lookups here, beside the paper's 3-4 points."""
    if not points:
        return "the gain of BO weighting is measured once the table-size items finish."
    gain = 100 * float(np.mean([p["weighted_accuracy"] - p["unweighted_accuracy"] for p in points]))
    text = (f"BO-weighted minus unweighted: {gain:+.2f} points on average over {len(points)} table size(s) "
            f"(paper: {PAPER_BO_GAIN_POINTS[0]:g}-{PAPER_BO_GAIN_POINTS[1]:g} points)")
    if gain < PAPER_BO_GAIN_POINTS[0]:
        text += ("; our key parts are all small integer levels (no pixel-vs-[0,1] scale mismatch for BO to "
                 "repair), which leaves BO less to gain")
    return text + "."


def model_text(ram: dict[str, Any]) -> str:
    """The RAM in a few words from its config, e.g. ``4 glimpses of 3 x 8x8 patches, 2-bit patches, 1-bit hidden``."""
    bits = lambda b: "float" if b is None else f"{b}-bit"  # noqa: E731 - local formatter
    return (f"{ram['num_glimpses']} glimpses of {ram['num_patches']} x {ram['patch_size']}x{ram['patch_size']} "
            f"patches, {bits(ram['patch_bits'])} patches, {bits(ram['hidden_bits'])} hidden state")


def mixed_text(mixed: dict[str, Any] | None) -> str:
    """Fig. 5: our RAM and lookups against the authors', and the threshold rule, from the mixed item's result."""
    if not mixed:
        return "Compared with the paper once the mixed item finishes."
    text = (f"Our RAM ({model_text(mixed['ram'])}) reaches {_pct(mixed['ram_accuracy'])} on these test images, "
            f"{_versus(100 * mixed['ram_accuracy'], AUTHORS_QUANTIZED_RAM_PCT)} the authors' quantized "
            f"{AUTHORS_QUANTIZED_RAM_PCT:.2f}%, and our lookups alone {_pct(mixed['lookup_accuracy'])}, "
            f"{_versus(100 * mixed['lookup_accuracy'], AUTHORS_BO_LOOKUP_PCT)} their {AUTHORS_BO_LOOKUP_PCT:.2f}%; "
            "the share answered by lookup depends on the threshold rule")
    at = mixed.get("at_chosen_threshold")
    if at and at.get("threshold_rule"):
        val = at.get("val_mixed_accuracy")
        text += (f" (ours: {at['threshold_rule']}; threshold {at['chosen_threshold']:g}"
                 + ("" if val is None else f", {_pct(val)} mixed accuracy on validation") + ")")
    elif not at:
        text += " (no threshold was chosen on validation for this table: the curve alone is shown)"
    return text + "."


def sum_line_text(sram: dict[str, Any] | None) -> str:
    """Fig. 6(b): the variation-free level step and worst gap of the measured array beside the paper's 28 mV."""
    if not sram:
        return "Compared with the paper's smallest gap once the sram item finishes."
    step, gap, paper = sram["nominal_spacing_mv"], sram["min_gap_mv"], sram["paper_min_gap_mv"]
    cols, v_p = sram["config"]["cols"], sram["config"]["v_p_max_v"]
    line = f"one sum line steps {2 * step:.2f} mV (V_P,max/{cols} = {1e3 * v_p / cols:.2f} mV)"
    if abs(2 * step - paper) <= 0.05 * paper:
        line += f", so the paper's {paper:g} mV is probably one sum line's step"
    quantiles = len(sram["voltage_quantiles_mv"][0])
    return (f"A variation-free array steps {step:.2f} mV per level on (V_SLP+V_SLN)/2 and {line}; the worst gap "
            f"({gap:.2f} mV over {sram['trials']} arrays) is set by the slowest cells sampled, so it shrinks as more "
            f"arrays are sampled; the histogram is drawn from {quantiles} quantiles per level.")


def match_energy_text(energy: dict[str, Any] | None) -> str:
    """Fig. 6(c): where our modelled match energy lands against the paper's total."""
    if not energy:
        return "Compared with the paper's 4.7 pJ once the energy item finishes."
    from mbi.hardware.energy import COMPONENTS, PAPER_MATCH_ENERGY_J

    total = energy["match_energy_j"]["total"]
    return (f"Our per-component model ({', '.join(c.replace('_', ' ') for c in COMPONENTS)}) gives "
            f"{total * 1e12:.3f} pJ, {100 * (total / PAPER_MATCH_ENERGY_J - 1):+.1f}% from the paper's "
            f"{PAPER_MATCH_ENERGY_J * 1e12:g} pJ total; the split between components rests on our model's "
            "assumptions.")


def table_one_text(energy: dict[str, Any] | None) -> str:
    """Table I: what our row's energy assumes and where its accuracy and storage come from."""
    if not energy:
        return "Our row is built once the energy item finishes; the CIM rows are the paper's, projected to 16 nm."
    from mbi.hardware.energy import PAPER_MBI_STORAGE_MB, format_energy

    row = energy["ours"]
    mb = "-" if row["storage_mb"] is None else f"{row['storage_mb']:.2f} MB"
    return (f"Our row's energy, {format_energy(row['energy_j'])} per inference, assumes {row['traversal_text']}; "
            f"accuracy: {row['accuracy_label']}; storage {mb} ({row['storage_label']}; the paper: "
            f"{PAPER_MBI_STORAGE_MB:g} MB); the CIM rows are the paper's, projected to 16 nm.")


def build_report(results: dict[str, Any], cfg: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write ``report.html`` (offline: plotly.js inline once), ``summary.md`` and ``results.json`` under ``out``."""
    from mbi.store import atomic_write_text

    out = Path(out)
    sections = figure_sections(results, cfg)
    html = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>MBI reproduction</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{padding:4px 8px;"
            "text-align:left;vertical-align:top}</style></head><body>",
            f"<h1>MBI reproduction ({cfg['profile']} profile)</h1>",
            f"<p>Trials: {results['trials']}. Settings: <code>{_escape(json.dumps(cfg))}</code></p>"]
    md = [f"# MBI reproduction ({cfg['profile']} profile)", "",
          f"Trials: {results['trials']}.", "", "| Figure | Ours | Paper | Authors' code | Why they differ |",
          "|---|---|---|---|---|"]
    first = True
    for sec in sections:
        html.append(f"<h2 id='{sec['id']}'>{_escape(sec['title'])}</h2><table>"
                    f"<tr><th>Ours</th><td>{_escape(sec['ours'])}</td></tr>"
                    f"<tr><th>Paper</th><td>{_escape(sec['paper'])}</td></tr>"
                    f"<tr><th>Authors' code</th><td>{_escape(sec['authors'])}</td></tr>"
                    f"<tr><th>Why they differ</th><td>{_escape(sec['why'])}</td></tr></table>")
        if sec["figure"] is not None:
            html.append(sec["figure"].to_html(full_html=False, include_plotlyjs=True if first else False,
                                              div_id=f"plot-{sec['id']}"))
            first = False
        else:
            html.append("<p><em>No finished items for this figure yet.</em></p>")
        md.append("| " + " | ".join(str(sec[k]).replace("|", "/") for k in ("title", "ours", "paper", "authors", "why"))
                  + " |")
    if results["errors"]:
        md += ["", "Failed items:"] + [f"- {e['item']}: {e['error']}" for e in results["errors"]]
    html.append("</body></html>")
    paths = {"html": out / "report.html", "markdown": out / "summary.md", "json": out / "results.json"}
    atomic_write_text(paths["html"], "\n".join(html))
    atomic_write_text(paths["markdown"], "\n".join(md) + "\n")
    figures = {sec["id"]: sec["figure"] is not None for sec in sections}
    atomic_write_text(paths["json"], json.dumps({"config": cfg, "figures_drawn": figures, "results": results,
                                                 "comparison": [{k: v for k, v in sec.items() if k != "figure"}
                                                                for sec in sections]},
                                                indent=1, default=json_default))
    return paths


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

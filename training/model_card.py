"""The model card (README.md) of an export, written from the files beside it:
`config.json` (the network), `training.json` (how it was trained) and, once evaluated, `metrics.json` and
`samples.png`. Rewritten whole each time, so the card never disagrees with those files. The family's
paper and reference-code licence come from its registration; the tables here are also the README's."""
from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

import translator

LICENCES = {"Apache-2.0": "apache-2.0", "CC-BY-4.0": "cc-by-4.0", "MIT": "mit", "CC-BY-SA-4.0": "cc-by-sa-4.0"}
# The most restrictive licence among the training data decides the weights' licence.
LICENCE_ORDER = ["CC-BY-SA-4.0", "CC-BY-4.0", "Apache-2.0", "MIT"]


def _read(folder: Path, name: str) -> dict:
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else {}


def usage(name: str, family: translator.Family, config: dict) -> list[str]:
    direction = family.directions[0]
    a, b = config.get("domain_a", "A"), config.get("domain_b", "B")
    lines = ["```python", "import translator", f't = translator.load("{name}")']
    if family.evaluation == "fewshot":  # the style comes from 1-20 reference images
        lines.append('t.translate("content.png", references=["ref1.png", "ref2.png", "ref3.png"])  '
                     "# PIL image out: the content in the references' style")
        if hasattr(family.translator, "translate_text"):
            lines.append('t.translate_text("Hello", references=["ref1.png", "ref2.png", "ref3.png"])  # a typed word')
    else:
        lines.append(f't.translate("input.png", direction="{direction}")  # PIL image out: {a} → {b}')
    if family.evaluation == "multimodal":  # one input, many outputs: the style code picks which
        lines += [f't.translate("input.png", direction="{direction}", seed=3)  # another random style',
                  f't.translate("input.png", direction="{direction}", reference="style.png")  # the style of a reference ({b})',
                  f't.samples("input.png", direction="{direction}", n=8).images  # eight random styles']
    if family.tab.method != "run":
        refs = ', references=["ref1.png", "ref2.png", "ref3.png"]' if family.evaluation == "fewshot" else ""
        lines.append(f't.{family.tab.method}("input.png"{refs})  # {", ".join(o.field for o in family.tab.outputs)}')
    return lines + ["```"]


def write_model_card(folder: Path) -> Path:
    folder = Path(folder)
    config, training, metrics = _read(folder, "config.json"), _read(folder, "training.json"), _read(folder, "metrics.json")
    name = training.get("name", folder.name)
    family = translator.FAMILIES[config["family"]]
    sources = training.get("sources") or {}
    used = [s for s in sources if s in {config.get("domain_a"), config.get("domain_b"),
                                        str(config.get("domain_a", "")).removesuffix("-sketch")}] or list(sources)
    licences = {sources[s]["licence"] for s in used}
    licence = next((l for l in LICENCE_ORDER if l in licences), None)

    data = ModelCardData(license=LICENCES.get(licence, "other"), library_name="translator-studio",
                         pipeline_tag="image-to-image", tags=["gan", family.name, "image-to-image", "emoji"],
                         model_name=name)
    arrow = "↔" if len(family.directions) > 1 else "→"
    lines = [f"# {name}", "",
             f"A **{family.title}** model from Translator Studio: {config.get('domain_a', 'A')} {arrow} "
             f"{config.get('domain_b', 'B')} at {config.get('image_size')} px.", "", *usage(name, family, config), ""]
    if (folder / "samples.png").exists():
        shown = ("For a few fonts the model never saw: the K = 5 reference glyphs, the content glyph, the model's raw "
                 "output (at its own size, pixels enlarged as they are), the nearest training font's glyph (the "
                 "baseline) and the true glyph:" if family.evaluation == "fewshot" else
                 "Fixed held-out inputs, the model's raw output (at its own size, pixels enlarged as they are), the "
                 "output of the x4 finishing stage the app shows (see assets/finishing/finisher-x4) "
                 "and the true target, then the app's examples:")
        if family.evaluation == "multimodal":
            shown = ("Held-out inputs, each translated with the same 8 random style codes (one column each): the raw "
                     "output at the model's own size (pixels enlarged as they are), and under it the output of the x4 "
                     "finishing stage the app shows (see assets/finishing/finisher-x4):")
        lines += ["## What it does", "", shown, "", "![sample sheet](samples.png)", ""]
    lines += ["## Network", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(config.items())]
    lines += ["", f"Paper: {family.paper}.", "", f"Reference code: {family.code_licence}."]
    if training:
        wall = training.get("wall_seconds", 0)
        recipe = {k: v for k, v in (training.get("recipe") or {}).items() if k != "file"}
        lines += ["", "## Training", "",
                  f"- Command: `{training.get('command')}`",
                  # flags of an older trainer may since have become recipe settings: say how to run it today
                  *([f"  (the flags of that day; with today's trainer: `{training['reproduce']}`)"]
                    if training.get("reproduce") else []),
                  *(["  (resumed; earlier sessions: " + "; ".join(f"`{c}`" for c in training["sessions"][:-1]) + ")"]
                    if len(training.get("sessions", [])) > 1 else []),
                  *([f"- Recipe: `{training['recipe']['file']}`: " + ", ".join(f"{k} = {v}" for k, v in recipe.items())]
                    if (training.get("recipe") or {}).get("file") else []),
                  f"- Data: `{training.get('data_version')}` at {training.get('data_size')} px "
                  f"({', '.join(sources[s]['package'] for s in used) if used else 'user data'})",
                  f"- Steps: {training.get('steps')} (batch {training.get('batch_size')}, "
                  f"{training.get('processes')} process(es) on {training.get('device')}, "
                  f"mixed precision: {training.get('mixed_precision')}, seed {training.get('seed')})",
                  f"- Wall time: {wall / 3600:.2f} h ({wall} s), torch {training.get('torch')}",
                  f"- Losses: {json.dumps(training.get('losses', {}))}",
                  *([f"- Weights: exponential moving average of the generator (decay {training['ema']})"]
                    if training.get("ema") else []),
                  *([f"- Step chosen: {training['selected']['step']} of {training['selected']['of_steps']}, by "
                     f"`{training['selected']['command']}`: {training['selected']['criterion']} "
                     f"({training['selected']['validation_pairs']} pairs held out of training; the test split "
                     f"played no part)"] if training.get("selected") else []),
                  *([f"- Notes: {training['notes']}"] if training.get("notes") else [])]
    if metrics:
        lines += ["", "## Evaluation", "", evaluation_table(metrics), "",
                  f"Protocol: {metrics.get('protocol', '')}", "",
                  f"Reproduce: `{metrics.get('command', '')}`"]
    if used:
        lines += ["", "## Data licences and attribution", ""]
        lines += [f"- {sources[s]['attribution']} ({sources[s]['package']})" for s in used]
        lines += ["", f"The weights are released under {licence}, the most restrictive licence of the training data."]
    card = ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines) + "\n")
    card.save(folder / "README.md")
    return folder / "README.md"


def _pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _kid(m: dict) -> str:
    return "–" if m.get("kid_x100") is None else f"{m['kid_x100']:.2f} ± {m['kid_std_x100']:.2f}"


def metrics_table(metrics: dict) -> str:
    """One row per (direction, method): the model, the identity baseline, the real target renders, and the
    paired oracle where one was given."""
    rows = ["| direction | method | L1 ↓ | PSNR ↑ | SSIM ↑ | judged target (of 6 vendors) ↑ | target vs source ↑ "
            "| KID×100 ↓ | roughness | N |", "|---|---|---|---|---|---|---|---|---|---|"]
    for direction, results in metrics.get("directions", {}).items():
        for method, m in results.items():
            psnr = "∞" if m["psnr"] > 99 else f"{m['psnr']:.2f}"
            rows.append(f"| {direction} | {method} | {m['l1']:.4f} | {psnr} | {m['ssim']:.4f} | "
                        f"{_pct(m.get('target_share'))} | {_pct(m.get('target_vs_source'))} | {_kid(m)} | "
                        f"{'–' if m.get('roughness') is None else format(m['roughness'], '.4f')} | {m['n']} |")
    return "\n".join(rows)


def models_table(tables: dict[str, dict]) -> str:
    """The README's headline table: one row per model and direction, with its sample sheet. The number in
    brackets is the baseline each protocol measures against: the input unchanged (identity) for a
    translation, the nearest training font for a few-shot model."""
    rows = ["| model | task | L1 ↓ (baseline) | SSIM ↑ (baseline) | recognised as target ↑ | samples |",
            "|---|---|---|---|---|---|"]
    for name, metrics in tables.items():
        if metrics.get("is_oracle") or metrics.get("is_unshipped"):
            continue
        sheet = f"[sheet](assets/models/{name}/samples.png)"
        for direction, r in metrics.get("directions", {}).items():
            m, i = r["model"], r["identity"]
            rows.append(f"| `{name}` | {direction} | {m['l1']:.4f} ({i['l1']:.4f}) | {m['ssim']:.4f} ({i['ssim']:.4f}) | "
                        f"{_pct(m.get('target_share'))} | {sheet} |")
        if metrics.get("fewshot"):
            f = metrics["fewshot"]
            at = f["ks"][f"K={f['bar']['k']}"]
            m, base = at["model"], at["nearest training font"]
            rows.append(f"| `{name}` | glyph → unseen font, K = {f['bar']['k']} (baseline: nearest training font) | "
                        f"{m['l1']:.4f} ({base['l1']:.4f}) | {m['ssim']:.4f} ({base['ssim']:.4f}) | "
                        f"style retrieval top-1 {_pct(m['retrieval_top1'])} | {sheet} |")
        if metrics.get("multimodal"):
            m = metrics["multimodal"]
            rows.append(f"| `{name}` | drawing → colour, random styles | – | – | realism {_pct(m['realism'])}, "
                        f"style control {_pct(m['style_control'])} | {sheet} |")
    return "\n".join(rows)


def benchmark_table(tables: dict[str, dict]) -> str:
    """Every model of a benchmark direction side by side (the unpaired Noto ↔ Twemoji task), with the
    identity baseline and the paired oracle: how far each model gets from the input towards the truth."""
    by_direction: dict[str, list[tuple[str, dict]]] = {}
    for name, metrics in tables.items():
        for direction, r in metrics.get("directions", {}).items():
            if r["model"].get("target_vs_source") is None:
                continue  # the benchmark is between two vendor styles (not from drawings, not a user's domains)
            label = f"{name} (paired oracle)" if metrics.get("is_oracle") else \
                f"{name} (not shipped)" if metrics.get("is_unshipped") else name
            by_direction.setdefault(direction, []).append((label, r))
    rows = ["| direction | model | L1 ↓ | SSIM ↑ | recognised as target ↑ | KID×100 ↓ | L1 / SSIM gap to oracle closed |",
            "|---|---|---|---|---|---|---|"]
    for direction, entries in by_direction.items():
        identity = entries[0][1]["identity"]
        rows.append(f"| {direction} | *identity (input unchanged)* | {identity['l1']:.4f} | {identity['ssim']:.4f} | "
                    f"{_pct(identity.get('target_share'))} | {_kid(identity)} | 0 |")
        for label, r in entries:
            m = r["model"]
            gap = m.get("gap_closed")
            closed = "–" if not gap else " / ".join("–" if gap[k] is None else f"{gap[k] * 100:.0f}%" for k in ("l1", "ssim"))
            rows.append(f"| {direction} | `{label}` | {m['l1']:.4f} | {m['ssim']:.4f} | {_pct(m.get('target_share'))} | "
                        f"{_kid(m)} | {closed} |")
        real = entries[0][1]["real target"]
        rows.append(f"| {direction} | *real target renders* | 0 | 1 | {_pct(real.get('target_share'))} | {_kid(real)} | |")
    return "\n".join(rows)


def multimodal_table(m: dict) -> str:
    """The multimodal protocol's numbers (training.evaluate.MultimodalProtocol), with their bars."""
    per_vendor = ", ".join(f"{v} {share:.0%}" for v, share in m["style_control_per_vendor"].items())
    return "\n".join([
        "| measure | value | bar |", "|---|---|---|",
        f"| realism: outputs of random styles taken for a real colour vendor | {m['realism']:.1%} | ≥ 80% |",
        f"| diversity: spread of 8 random styles, as a share of the real vendors' | {m['diversity']:.1%} | ≥ 50% |",
        f"| distinct vendors the judge sees among 8 random styles | {m['vendors_seen_of_8']:.1f} | |",
        f"| style control: a reference's vendor reproduced ({per_vendor}) | {m['style_control']:.1%} | ≥ 60% |",
        f"| content kept: chamfer distance to the outline, px (the true emoji: {m['content_floor']:.2f}; another "
        f"vendor's drawing: {m['content_other_vendor']:.2f}) | {m['content_chamfer']:.2f} | below another vendor's |",
    ])


def evaluation_table(metrics: dict) -> str:
    """The table of whichever protocol wrote these metrics (training.evaluate.PROTOCOLS)."""
    if metrics.get("fewshot"):
        return fewshot_table(metrics["fewshot"])
    if metrics.get("multimodal"):
        return multimodal_table(metrics["multimodal"])
    return metrics_table(metrics)


def fewshot_table(m: dict) -> str:
    """The few-shot protocol's numbers (training.evaluate.FewShotProtocol): per K the model beside the
    nearest-training-font baseline and the content glyph unchanged, then chance and the bar."""
    rows = ["| K | method | L1 ↓ | PSNR ↑ | SSIM ↑ | style retrieval top-1 ↑ | top-5 ↑ | N |",
            "|---|---|---|---|---|---|---|---|"]
    for k, results in m["ks"].items():
        for method, r in results.items():
            label = {"content glyph": "*content glyph unchanged*",
                     "nearest training font": "*nearest training font*"}.get(method, method)
            rows.append(f"| {k.removeprefix('K=')} | {label} | {r['l1']:.4f} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                        f"{_pct(r['retrieval_top1'])} | {_pct(r['retrieval_top5'])} | {r['n']} |")
    bar = m["bar"]
    at = m["ks"].get(f"K={bar['k']}", {})
    model, baseline = at.get("model"), at.get("nearest training font")
    verdict = ("met" if bar["met"] else "not met") + (
        f" (L1 {model['l1']:.4f} vs {baseline['l1']:.4f}, SSIM {model['ssim']:.4f} vs {baseline['ssim']:.4f})"
        if model and baseline else "")
    return "\n".join(rows + [
        "", f"{m['fonts']} fonts the model never saw, {m['characters_per_font']} content characters each "
            f"({m['samples']} translations per K); the baseline picks among {m['training_fonts']} training fonts. "
            f"Style retrieval by chance: top-1 {_pct(m['chance_top1'])}, top-5 {_pct(m['chance_top5'])}.",
        "", f"Bar: beat the nearest training font at K = {bar['k']} on L1 and on SSIM: **{verdict}**."])

"""The model card (README.md) of an export, written from the files beside it:
`config.json` (the network), `training.json` (how it was trained) and, once evaluated, `metrics.json`.
Rewritten whole each time, so the card never disagrees with those files."""
from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

LICENCES = {"Apache-2.0": "apache-2.0", "CC-BY-4.0": "cc-by-4.0", "MIT": "mit", "CC-BY-SA-4.0": "cc-by-sa-4.0"}
# The most restrictive licence among the training data decides the weights' licence.
LICENCE_ORDER = ["CC-BY-SA-4.0", "CC-BY-4.0", "Apache-2.0", "MIT"]
PAPERS = {"cyclegan": "Zhu et al., *Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial "
                      "Networks*, ICCV 2017 (https://arxiv.org/abs/1703.10593)",
          "pix2pix": "Isola et al., *Image-to-Image Translation with Conditional Adversarial Networks*, "
                     "CVPR 2017 (https://arxiv.org/abs/1611.07004)"}


def _read(folder: Path, name: str) -> dict:
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else {}


def write_model_card(folder: Path) -> Path:
    folder = Path(folder)
    config, training, metrics = _read(folder, "config.json"), _read(folder, "training.json"), _read(folder, "metrics.json")
    name = training.get("name", folder.name)
    family = config.get("family", "unknown")
    sources = training.get("sources") or {}
    used = [s for s in sources if s in {config.get("domain_a"), config.get("domain_b")}] or list(sources)
    licences = {sources[s]["licence"] for s in used}
    licence = next((l for l in LICENCE_ORDER if l in licences), None)

    data = ModelCardData(license=LICENCES.get(licence, "other"), library_name="translator-studio",
                         pipeline_tag="image-to-image", tags=["gan", family, "image-to-image", "emoji"],
                         model_name=name)
    lines = [f"# {name}", "",
             f"A **{family}** model from Translator Studio: {config.get('domain_a', 'A')} ↔ "
             f"{config.get('domain_b', 'B')} at {config.get('image_size')} px.", "",
             "```python", "import translator", f't = translator.load("{name}")',
             't.translate("input.png", direction="a2b")  # PIL image out', "```", "",
             "## Network", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(config.items())]
    if family in PAPERS:
        lines += ["", f"Paper: {PAPERS[family]}."]
    if training:
        wall = training.get("wall_seconds", 0)
        lines += ["", "## Training", "",
                  f"- Command: `{training.get('command')}`",
                  *(["  (resumed; earlier sessions: " + "; ".join(f"`{c}`" for c in training["sessions"][:-1]) + ")"]
                    if len(training.get("sessions", [])) > 1 else []),
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
        lines += ["", "## Evaluation", "", metrics_table(metrics), "",
                  f"Protocol: {metrics.get('protocol', '')}", "",
                  f"Reproduce: `{metrics.get('command', '')}`"]
    if used:
        lines += ["", "## Data licences and attribution", ""]
        lines += [f"- {sources[s]['attribution']} ({sources[s]['package']})" for s in used]
        lines += ["", f"The weights are released under {licence}, the most restrictive licence of the training data."]
    card = ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines) + "\n")
    card.save(folder / "README.md")
    return folder / "README.md"


def metrics_table(metrics: dict) -> str:
    """One row per (direction, method): the model, the identity baseline, and the real target renders."""
    rows = ["| direction | method | L1 ↓ | PSNR ↑ | SSIM ↑ | judged target (of 6 vendors) ↑ | target vs source ↑ "
            "| KID×100 ↓ | roughness | N |", "|---|---|---|---|---|---|---|---|---|---|"]
    for direction, results in metrics.get("directions", {}).items():
        for method, m in results.items():
            psnr = "∞" if m["psnr"] > 99 else f"{m['psnr']:.2f}"
            rows.append(f"| {direction} | {method} | {m['l1']:.4f} | {psnr} | {m['ssim']:.4f} | "
                        f"{m['target_share'] * 100:.1f}% | "
                        f"{'–' if m['target_vs_source'] is None else format(m['target_vs_source'], '.1%')} | "
                        f"{m['kid_x100']:.2f} ± {m['kid_std_x100']:.2f} | "
                        f"{'–' if m.get('roughness') is None else format(m['roughness'], '.4f')} | {m['n']} |")
    return "\n".join(rows)

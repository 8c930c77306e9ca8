"""training.app_latency: the end-to-end measurement of a slider move and a typed word, run for real on tiny models."""
import json

from conftest import export
from test_contract import tiny


def test_slider_move_and_word_are_timed_against_an_echo_floor(tmp_path, capsys):
    from training import app_latency

    models = {family: export(tiny(family), tmp_path / family) for family in ("munit", "funit")}
    out = tmp_path / "latency.json"
    app_latency.main(["--munit", str(models["munit"]), "--funit", str(models["funit"]), "--moves", "5",
                      "--threads", "1", "--json", str(out)])
    results = json.loads(out.read_text())
    slider = results["munit_slider"]
    assert slider["slider_move"]["n"] == slider["echo"]["n"] == 5
    assert 0 < slider["echo"]["median_ms"] and 0 < results["model_ms"]["munit"]
    # the bar is computed from the measured parts, not written in
    assert slider["bar_ms"] == round(slider["echo"]["median_ms"] + results["model_ms"]["munit"] + app_latency.BAR_MS, 1)
    assert slider["met"] == (slider["slider_move"]["median_ms"] <= slider["bar_ms"])
    assert results["funit_word"]["k"] == 5 and results["funit_word"]["median_ms"] > results["model_ms"]["funit"] > 0
    table = capsys.readouterr().out
    assert "MUNIT style-slider move" in table and "FUNIT five-letter word" in table

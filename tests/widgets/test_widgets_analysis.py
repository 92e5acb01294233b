"""Lint and Estimate tabs and the side-by-side engine diff view (synchronized selection)."""

from workbench.model import load_model
from workbench.widgets.app import App
from workbench.widgets.estimate_panel import EstimatePanel
from workbench.widgets.lint_panel import LintPanel


def test_estimate_panel_and_synchronized_diff_view():
    panel = EstimatePanel(load_model("resnet_tiny"), gpu="t4", precisions=("fp32", "int8"))
    panel.run(wait=True)
    assert panel.last_error is None and list(panel.table["precision"]) == ["fp32", "int8"]
    assert "leave-one-out" in panel.summary.value and panel.roofline.outputs and panel.bars.outputs
    accuracy = panel.accuracy.children[0].value
    assert "resnet18-fp16-a100" in accuracy and "GPU left out" in accuracy
    view = panel.diff_view
    region = view.diff.layer_regions["a"][2]
    view.a_list.value = (2,)  # picking a layer of A selects its whole region on both sides
    assert view.b_list.value and all(view.diff.layer_regions["b"][i] == region for i in view.b_list.value)
    assert f"region {region}" in view.detail.value


def test_estimate_panel_without_model_says_so():
    panel = EstimatePanel()
    panel.run(wait=True)
    assert "load a model" in panel.message.value


def test_lint_panel_and_app_tabs():
    panel = LintPanel(load_model("resnet_tiny"))
    panel.precision.value = "int8"
    panel.run(wait=True)
    assert panel.last_error is None and "errors" in panel.summary.value and "<table>" in panel.table.value
    app = App("resnet_tiny")
    titles = [app.tabs.get_title(i) for i in range(len(app.tabs.children))]
    assert "Lint" in titles and "Estimate" in titles and app.estimate_panel.model is app.model

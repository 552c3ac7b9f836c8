"""Published numbers our results are placed beside (REFERENCES §4), with their sources. These are citations, not
our measurements; our own numbers come only from run records (benchmarks/task_runs.py)."""

from __future__ import annotations

# LRA test accuracy (%), per recipe key of configs/generate.py: model -> value (None: the model failed the task).
LRA_TASKS = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")
LRA = {
    "S4 (Gu et al., 2022; the repo's final runs)": (59.5, 86.5, 91.0, 88.5, 94.0, 96.0),
    "S5 (Smith et al., 2023)": (62.15, 89.31, 91.40, 88.00, 95.33, 98.58),
    "Mega (Ma et al., 2023)": (63.14, 90.43, 91.25, 90.44, 96.01, 97.98),
    "Transformer (LRA paper, Tay et al., 2021)": (36.37, 64.27, 57.46, 42.44, 71.40, None),
    "BigBird (LRA paper)": (36.05, 64.02, 59.29, 40.83, 74.87, None),
}
# The real task each stand-in replaces: published numbers belong to that task and are shown as not comparable.
STAND_INS = {"text-standin": "text", "retrieval-standin": "retrieval", "image-standin": "image"}


def lra_published(recipe: str) -> dict[str, float | None]:
    """Model -> published accuracy (%) on the LRA task of `recipe` (its real task for a stand-in)."""
    task = STAND_INS.get(recipe, recipe)
    if task not in LRA_TASKS:
        return {}
    index = LRA_TASKS.index(task)
    return {model: values[index] for model, values in LRA.items()}

# Long-horizon forecasting, input 96, features M: MSE and MAE on the scaled test set averaged over the horizons 96, 192,
# 336 and 720 (REFERENCES §4; the numbers the iTransformer paper reports under the Time-Series-Library protocol).
FORECASTING_HORIZONS = (96, 192, 336, 720)
FORECASTING = {
    "etth1": {
        "iTransformer (Liu et al., 2024)": (0.454, 0.447),
        "DLinear (Zeng et al., 2023)": (0.456, 0.452),
        "PatchTST (Nie et al., 2023)": (0.469, 0.454),
    },
}

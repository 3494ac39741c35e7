"""Every figure of the product, built once: results in, ``plotly.graph_objects.Figure`` out.

These are pure functions used by the dashboard pages, the CLI and the ``reproduce`` report alike
(:mod:`.static` returns standalone SVG documents instead, for figures drawn with no JavaScript).
They never compute the science themselves; they draw what the ``mbi`` modules return. Axes carry
units, and the default template stays readable on light and dark backgrounds. One module per
figure family, in the order of the pipeline: :mod:`.training` (Fig. 3), :mod:`.glimpses`,
:mod:`.table` (Fig. 4(a), keys), :mod:`.search` (Fig. 4(b), 4(c)), :mod:`.mixed` (Fig. 5),
:mod:`.robustness` (perturbed digits, gates), :mod:`.hardware` (Fig. 6), :mod:`.scaling` (model size),
:mod:`.teaching` (the drawing view), :mod:`.static` (the pipeline and glimpse paths as SVG); :mod:`.palette` owns
the colours, :mod:`.common` the shared layout. Every builder is importable as ``mbi.plots.NAME``.
"""

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR, table_figure
from mbi.plots.glimpses import class_probabilities, digit_gallery, digit_image, glimpse_animation, glimpse_patches
from mbi.plots.hardware import (accuracy_vs_adc_bits, accuracy_vs_sigma, adc_errors_by_level, energy_breakdown,
                                sum_line_distributions, sum_line_gap_zoom)
from mbi.plots.mixed import class_breakdown_bars, fallback_steps_bars, mixed_mbi_curve, mixed_mbi_marked
from mbi.plots.robustness import gate_curves, parting_paths, robustness_bars
from mbi.plots.scaling import model_size_figure
from mbi.plots.search import distance_error_histogram, key_tree, search_tradeoff
from mbi.plots.static import glimpse_path_svg, pipeline_svg
from mbi.plots.table import (budget_accuracy, budget_storage, decoded_keys, location_map, query_and_match,
                             recipe_tradeoff, step_distances, table_size_curve)
from mbi.plots.teaching import two_paths
from mbi.plots.training import live_training, runs_comparison, sweep_grid_lines, sweep_one_at_a_time

__all__ = [
    "ACCENT_COLOR", "OURS_COLOR", "PAPER_COLOR", "accuracy_vs_adc_bits", "accuracy_vs_sigma", "adc_errors_by_level",
    "budget_accuracy", "budget_storage", "class_breakdown_bars", "class_probabilities", "decoded_keys",
    "digit_gallery", "digit_image", "distance_error_histogram", "energy_breakdown", "fallback_steps_bars",
    "gate_curves", "glimpse_animation", "glimpse_patches", "glimpse_path_svg", "key_tree", "live_training", "location_map",
    "mixed_mbi_curve", "mixed_mbi_marked", "model_size_figure", "parting_paths", "pipeline_svg", "query_and_match",
    "recipe_tradeoff", "robustness_bars", "runs_comparison",
    "search_tradeoff", "step_distances", "sum_line_distributions", "sum_line_gap_zoom", "sweep_grid_lines",
    "sweep_one_at_a_time", "table_figure", "table_size_curve", "two_paths",
]

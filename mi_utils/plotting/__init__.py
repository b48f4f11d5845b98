"""The book's figure style (:mod:`.style`), recurring figures (:mod:`.figures`) and figures of
learned representations (:mod:`.representation`).

Needs matplotlib and seaborn (``pip install mi-utils[plot]``).
"""

from .figures import (
    plot_bias_variance,
    plot_bias_variance_alpha,
    plot_score_matrix,
    plot_staircase,
)
from .representation import plot_latent_factors, plot_position_maps
from .style import (
    CEILING_COLOR,
    CHAIN_EDGES,
    CHAIN_NODES,
    CRITIC_COLORS,
    TASK_COLORS,
    TRUE_MI_COLOR,
    check_ax,
    decorate,
    ema,
    estimator_color,
    plot_batch_ceiling,
    plot_ceiling,
    plot_derivation_chain,
    plot_true_mi,
    set_style,
)

__all__ = [
    "CEILING_COLOR",
    "CHAIN_EDGES",
    "CHAIN_NODES",
    "CRITIC_COLORS",
    "TASK_COLORS",
    "TRUE_MI_COLOR",
    "check_ax",
    "decorate",
    "ema",
    "estimator_color",
    "plot_batch_ceiling",
    "plot_bias_variance",
    "plot_bias_variance_alpha",
    "plot_ceiling",
    "plot_derivation_chain",
    "plot_latent_factors",
    "plot_position_maps",
    "plot_score_matrix",
    "plot_staircase",
    "plot_true_mi",
    "set_style",
]

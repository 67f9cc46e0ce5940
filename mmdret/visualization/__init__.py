import mmaction.visualization  # noqa: F401  (fills the parent registries)
from .retrieval_plots import (contact_sheet, plot_diffusion_trajectory,  # noqa: F401
                              plot_modality_gap, plot_rank_histogram, plot_similarity_heatmap)
from .search_results import (render_contact_sheet, video_thumbnails,  # noqa: F401
                             write_results_html)

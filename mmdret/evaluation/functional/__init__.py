from .retrieval_features import (concat_features, extract_features, slice_features,
                                 unique_local)
from .retrieval_ranks import (DIRECTIONS, TIE_RULES, TIE_WEIGHTS, V2T_PROTOCOLS,
                              best_caption_scores, check_tie_rule, check_v2t_protocol,
                              ground_truth_ranks, non_finite_rows, non_finite_scores_error,
                              positives_for, rank_counts, ranking_inputs, recall_metrics)

__all__ = ['DIRECTIONS', 'TIE_RULES', 'TIE_WEIGHTS', 'V2T_PROTOCOLS', 'best_caption_scores',
           'check_tie_rule', 'check_v2t_protocol', 'concat_features', 'extract_features',
           'ground_truth_ranks', 'non_finite_rows', 'non_finite_scores_error', 'positives_for',
           'rank_counts', 'ranking_inputs', 'recall_metrics', 'slice_features', 'unique_local']

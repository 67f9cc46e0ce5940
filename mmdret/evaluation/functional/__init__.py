from .retrieval_features import (concat_features, extract_features, slice_features,
                                 unique_local)
from .retrieval_ranks import TIE_RULES, ground_truth_ranks, recall_metrics

__all__ = ['TIE_RULES', 'concat_features', 'extract_features', 'ground_truth_ranks',
           'recall_metrics', 'slice_features', 'unique_local']

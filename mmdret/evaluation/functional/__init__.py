from .retrieval_ranks import TIE_RULES, ground_truth_ranks, recall_metrics

__all__ = ['TIE_RULES', 'ground_truth_ranks', 'recall_metrics']

from .base_post_processor import BaseScorePostProcessor, ColumnLogSumExp, owned_rows
from .dual_softmax import DualSoftmax
from .query_bank_norm import QueryBankNorm
from .score_post_processing import ScorePostProcessing, parse_post_processor_cfg

__all__ = ['BaseScorePostProcessor', 'ColumnLogSumExp', 'DualSoftmax', 'QueryBankNorm',
           'ScorePostProcessing', 'owned_rows', 'parse_post_processor_cfg']

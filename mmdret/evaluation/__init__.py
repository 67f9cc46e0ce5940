import mmaction.evaluation  # noqa: F401  (fills the parent registries)

from .functional import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
from .post_processors import *  # noqa: E402,F401,F403

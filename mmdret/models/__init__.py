import mmaction.models  # noqa: F401  (fills the parent registries)

from .data_preprocessors import *  # noqa: F401,F403
from .diffusion import *  # noqa: F401,F403
from .encoders import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .retrievers import *  # noqa: F401,F403

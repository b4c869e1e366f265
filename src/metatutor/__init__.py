"""metatutor: an adaptive learning engine that meta-learns how each learner learns.

The public names are below; heavy parts (torch models, the web stack) load only when used.
"""

from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator
from metatutor.errors import ConfigError, InvalidResponsesError, MetatutorError, NotFittedError

__version__ = "0.1.0"
__all__ = ["ConfigError", "InvalidResponsesError", "MetatutorError", "NotFittedError", "Responses", "Simulator",
           "__version__"]

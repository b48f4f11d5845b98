"""mi_utils: variational lower bounds on mutual information in PyTorch.

The library behind the book *Variational Bounds of Mutual Information*, after Poole, Ozair,
van den Oord, Alemi & Tucker (2019). Data flows one way:

- :mod:`mi_utils.data` makes samples of tasks with known MI (and their optimal critics);
- :mod:`mi_utils.decoders` holds the tractable decoders q(x|y) of the Barber–Agakov bound;
- :mod:`mi_utils.critics` turns samples into score matrices ``scores[..., i, j] = f(x_j, y_i)``;
- :mod:`mi_utils.bounds` turns score matrices into estimates in nats;
- :mod:`mi_utils.train` trains many runs at once, :mod:`mi_utils.experiments` holds the book's
  sweeps, :mod:`mi_utils.plotting` its figures, and ``python -m mi_utils.bench`` its benchmark;
- :mod:`mi_utils.config` chooses the run profile (``MI_BOOK_PROFILE``) and the device.
"""

from mi_utils import bounds, config, critics, data, decoders
from mi_utils.config import default_device, get_profile

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "bounds",
    "config",
    "critics",
    "data",
    "decoders",
    "default_device",
    "get_profile",
]

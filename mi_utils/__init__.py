"""mi_utils: variational lower bounds on mutual information in PyTorch.

The library behind the book *Variational Bounds of Mutual Information*, after Poole, Ozair,
van den Oord, Alemi & Tucker (2019). Data flows one way: :mod:`mi_utils.data` makes samples of
tasks with known MI, critics turn them into score matrices, and bounds turn score matrices into
estimates in nats. :mod:`mi_utils.config` chooses the run profile and the device.
"""

from mi_utils import config, data
from mi_utils.config import default_device, get_profile

__version__ = "0.1.0"
__all__ = ["__version__", "config", "data", "default_device", "get_profile"]

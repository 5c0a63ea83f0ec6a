"""Running nnvalues' traces on NDIF (the National Deep Inference Fabric) through nnsight.

`settings` finds the host and API key (environment or nnsight's config, never a command
line or a file of ours), `policy` holds the deadline, retries and the request meter,
`backend` submits a request and polls it within that deadline, `reduction` reduces several
batches to neuron counts in one request. `nnvalues.execution` chooses between local runs,
nnsight's in-process simulation and NDIF. Importing this package does not import nnsight.
"""

from nnvalues.remote.errors import NdifError
from nnvalues.remote.policy import RequestMeter, RetryPolicy
from nnvalues.remote.settings import NdifSettings, resolve_settings

__all__ = ["NdifError", "NdifSettings", "RequestMeter", "RetryPolicy", "resolve_settings"]

"""Host-side (numpy) topology: persistence with critical pixels, diagram matching, loss maps.

Everything here runs outside JAX (inside `jax.pure_callback` when used by the losses) and can be
imported on its own, e.g. to inspect diagrams and matchings in a notebook.
"""

from jaxtopo.host.image_loss import (
    TARGET_CACHE,
    ImageMatching,
    TargetDiagramCache,
    TopoLossConfig,
    batch_loss_and_grad,
    image_loss_and_grad,
    match_image,
)
from jaxtopo.host.matching import CostModel, Matching, match, optimal_partial_matching
from jaxtopo.host.persistence import (
    Diagram,
    available_backends,
    persistence_diagrams,
    register_backend,
)

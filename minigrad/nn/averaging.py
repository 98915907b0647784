"""An exponential moving average of a module's weights (Polyak averaging), kept in a copy
of the module that is used for evaluation and sampling, never trained."""
import copy

import numpy

from .. import backend, kernels


class ExponentialMovingAverage:
    """After every optimizer step, `update()` moves the copy towards the trained module:

        θ̄ ← θ̄ + r·(θ − θ̄)    with r = (1 − decay) / (1 − decayᵗ) at the t-th update

    for every parameter and every buffer. This is the average of θ₁ … θₜ weighted by
    decayᵗ⁻ˢ, normalised over the steps seen so far (Adam's bias correction): the first
    update copies θ₁ (r = 1), and r falls to 1 − decay, so θ̄ weighs the last
    ~1/(1 − decay) steps (1,000 at decay 0.999). Without the correction θ̄ would start from
    the untrained weights, which would still weigh decayᵗ (14% at t = 2,000 for 0.999).
    Buffers (BatchNorm's running statistics) are averaged alike, so the copy's statistics
    match its weights. `average` is the copy: a module of the same class, in eval mode, to
    sample or test with. `updates` is t; a resumed run sets it to the iterations done.

    capturable=True (for a step captured into a CUDA graph, docs/capture.md): t is a 0-d
    int64 array on the module's device, advanced in place, and r is computed from it there;
    `updates` reads it and `updates = n` writes it in place.
    """

    def __init__(self, module, decay, capturable=False):
        if not 0 < decay < 1:
            raise ValueError(f"ExponentialMovingAverage: decay must be in (0, 1), got {decay}")
        self.module, self.decay, self.capturable = module, decay, capturable
        self.average = copy.deepcopy(module).eval()
        self._updates = 0
        if capturable:
            xp = backend.get_array_module(*(p.data for p in module.parameters()))
            self._updates = xp.zeros((), dtype=numpy.int64)

    @property
    def updates(self):
        return int(backend.to_numpy(self._updates)) if self.capturable else self._updates

    @updates.setter
    def updates(self, value):
        if self.capturable:
            self._updates[...] = value  # in place: a captured step reads this very array
        else:
            self._updates = value

    def update(self):
        self._updates += 1  # in place when it is a device scalar
        rate = (1 - self.decay) / (1 - self.decay ** self._updates)
        pairs = [(average.data, p.data) for average, p in
                 zip(self.average.parameters(), self.module.parameters())]
        pairs += [(average, buffer) for (_, average), (_, buffer) in
                  zip(self.average.named_buffers(), self.module.named_buffers())]
        # r and 1 − r as each array meets them: floats that NumPy rounds to its dtype, or
        # device scalars cast to it (once per dtype), which round alike
        keep = 1 - rate  # once: on the device, a kernel
        factors = {average.dtype: (rate, keep) for average, _ in pairs}
        if self.capturable:
            factors = {dtype: (r.astype(dtype), keep.astype(dtype)) for dtype, (r, keep) in factors.items()}
        for average, current in pairs:
            r, keep = factors[average.dtype]
            if kernels.fused(average) and current.dtype == average.dtype:
                MOVE_TOWARDS(current, r, keep, average)  # one launch on the GPU, not three
            else:
                average *= keep
                average += r * current


MOVE_TOWARDS = kernels.Kernel("T current, T r, T keep", "T average",
                              "average = average * keep + r * current;", "minigrad_move_towards")

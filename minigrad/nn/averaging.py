"""An exponential moving average of a module's weights (Polyak averaging), kept in a copy
of the module that is used for evaluation and sampling, never trained."""
import copy


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
    """

    def __init__(self, module, decay):
        if not 0 < decay < 1:
            raise ValueError(f"ExponentialMovingAverage: decay must be in (0, 1), got {decay}")
        self.module, self.decay, self.updates = module, decay, 0
        self.average = copy.deepcopy(module).eval()

    def update(self):
        self.updates += 1
        rate = (1 - self.decay) / (1 - self.decay ** self.updates)
        for average, p in zip(self.average.parameters(), self.module.parameters()):
            average.data *= 1 - rate
            average.data += rate * p.data
        for (_, average), (_, buffer) in zip(self.average.named_buffers(), self.module.named_buffers()):
            average *= 1 - rate
            average += rate * buffer

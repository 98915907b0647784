"""An exponential moving average of a module's weights (Polyak averaging), kept in a copy
of the module that is used for evaluation and sampling, never trained."""
import copy


class ExponentialMovingAverage:
    """After every optimizer step, `update()` moves the copy towards the trained module:

        θ̄ ← decay·θ̄ + (1 − decay)·θ        for every parameter and every buffer

    so θ̄ weighs the last ~1/(1 − decay) steps (1,000 at decay 0.999). Buffers (BatchNorm's
    running statistics) are averaged alike, so the copy's statistics match its weights.
    `average` is the copy: a module of the same class, in eval mode, to sample or test with.
    """

    def __init__(self, module, decay):
        if not 0 < decay < 1:
            raise ValueError(f"ExponentialMovingAverage: decay must be in (0, 1), got {decay}")
        self.module, self.decay = module, decay
        self.average = copy.deepcopy(module).eval()

    def update(self):
        decay = self.decay
        for average, p in zip(self.average.parameters(), self.module.parameters()):
            average.data *= decay
            average.data += (1 - decay) * p.data
        for (_, average), (_, buffer) in zip(self.average.named_buffers(), self.module.named_buffers()):
            average *= decay
            average += (1 - decay) * buffer

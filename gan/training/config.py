"""The settings of a training run, as one typed object handed from the command line to
the loop: `TrainConfig`, with the model's own settings (its recipe's `options` dataclass)
inside it."""
import dataclasses
import math
from dataclasses import dataclass, field

from ..flags import DEFAULT_BACKEND, DEFAULT_DATASET

DRY_RUN_IMAGES = 256  # the slice of the data a --dry-run trains on


class ConfigError(ValueError):
    """Settings that cannot work together; the message says which and what to do."""


@dataclass
class TrainConfig:
    model: str                          # the recipe's name: "gan", "dcgan", "sgan_improved", ...
    iterations: int = 10_000            # training length (iterations, each one step)
    epochs: float | None = None         # or: the length in passes over the training images
    batch_size: int = 64
    lr: float = 2e-4                    # Adam's learning rate (D's, and G's unless g_lr)
    g_lr: float | None = None           # G's learning rate, if not lr
    beta1: float = 0.5                  # Adam's β₁ (D's, and G's unless g_beta1)
    g_beta1: float | None = None        # G's β₁, if not beta1
    beta2: float = 0.999                # Adam's β₂
    adam_eps: float = 1e-8              # Adam's ε, added to √v̂ (D's, and G's unless g_adam_eps)
    g_adam_eps: float | None = None     # G's ε, if not adam_eps
    ema: float = 0.0                    # decay of the moving average of G sampled from; 0: none
    d_ema: float = 0.0                  # decay of the moving average of D tested with; 0: none
    seed: int = 0
    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None
    limit: int | None = None            # train and test on the first N images only
    out: str = None                     # the run's folder; None: runs/<model>
    resume: str | None = None           # a checkpoint to continue from
    overwrite: bool = False             # start afresh in a folder that holds a run
    backend: str = DEFAULT_BACKEND
    tensorboard: bool = False           # also write the logged numbers and grids for TensorBoard
    log_every: int = 100
    sample_every: int = 1000
    checkpoint_every: int = 1000
    eval_every: int = 500               # for recipes that measure something (SGAN: test accuracy)
    dry_run: bool = False
    capture: str = "auto"               # the step as a captured CUDA graph: on, off, or auto (on CuPy)
    options: object = None              # the recipe's own settings (a dataclass instance)

    # Settings a resumed run must share with its checkpoint: those that shape the model, the
    # data or the random draws. The rest may change: the length, where and how often it
    # writes, and the learning rates (a smaller --lr is the usual way on after a divergence).
    MATCHED = ("dataset", "limit", "batch_size", "beta1", "beta2", "ema", "seed")

    # What a checkpoint that lacks one of these settings trained with: each was added to the
    # checkpoint's config (or recorded only when set) after runs were made without it.
    LEGACY_DEFAULTS = {
        "d_ema": 0.0,          # recorded only when a run keeps a moving average of D
        "g_beta1": None,       # recorded only when G's β₁ is not D's
        "adam_eps": 1e-8,      # recorded only when Adam's ε is not 1e-8 for both networks
        "g_adam_eps": 1e-8,
    }

    def __post_init__(self):
        if self.out is None:
            self.out = f"runs/{self.model}"

    def captures(self):
        """Is the step captured (on CuPy, a CUDA graph; on strict, a tape replayed as one; on
        numpy, checked by the capture rules; the same code path: docs/capture.md)?"""
        return self.capture == "on" or (self.capture == "auto" and self.backend == "cupy")

    def generator_lr(self):
        return self.lr if self.g_lr is None else self.g_lr

    def generator_betas(self):
        return (self.beta1 if self.g_beta1 is None else self.g_beta1), self.beta2

    def generator_adam_eps(self):
        return self.adam_eps if self.g_adam_eps is None else self.g_adam_eps

    def checkpoint_config(self, latent_dim):
        """What a checkpoint records and a resume must match (see MATCHED)."""
        matched = {name: getattr(self, name) for name in self.MATCHED}
        # recorded only when used, so that checkpoints from before these were added resume
        if self.d_ema:
            matched["d_ema"] = self.d_ema
        if self.g_beta1 is not None:
            matched["g_beta1"] = self.g_beta1
        if (self.adam_eps, self.generator_adam_eps()) != (1e-8, 1e-8):  # Adam's ε shapes its steps
            matched["adam_eps"], matched["g_adam_eps"] = self.adam_eps, self.generator_adam_eps()
        options = dataclasses.asdict(self.options) if self.options is not None else {}
        return {"latent_dim": latent_dim, **matched, **options}

    def as_dry_run(self):
        """A smoke test: 2 iterations on a small slice of the data, every output written."""
        return dataclasses.replace(
            self, iterations=2, epochs=None, limit=min(self.limit or DRY_RUN_IMAGES, DRY_RUN_IMAGES),
            log_every=1, sample_every=1, checkpoint_every=1, eval_every=1)


def check(config):
    """Raise ConfigError for settings that cannot work, before any data is read."""
    if config.epochs is not None and not (config.epochs > 0 and math.isfinite(config.epochs)):
        raise ConfigError(f"--epochs must be a positive finite number, got {config.epochs}")
    if config.limit is not None and config.batch_size > config.limit:
        raise ConfigError(f"--batch-size {config.batch_size} is larger than --limit {config.limit}: "
                          "no full batch exists; lower --batch-size or raise --limit")
    if config.resume and config.overwrite:
        raise ConfigError("--resume continues the run in --out, --overwrite starts it again: "
                          "choose one")
    if config.options is not None and hasattr(config.options, "check"):
        config.options.check(config)


def resolved_config(recipe, options=None, **given):
    """The TrainConfig of `recipe` with the settings `given` (None: not given), every other
    at its default: the one its options imply (recipe.defaults_for), else the recipe's, else
    TrainConfig's. An option left None takes the value the others imply too (the DCGAN's
    --lr-decay-start follows its --arch)."""
    if options is None and recipe.options is not None:
        options = recipe.options()
    implied = {**recipe.defaults, **recipe.defaults_for(options)}
    for f in options_fields(recipe.options):
        if getattr(options, f.name) is None and f.name in implied:
            setattr(options, f.name, implied[f.name])
    settings = {f.name for f in dataclasses.fields(TrainConfig)} - {"model", "options"}
    values = {key: value for key, value in implied.items() if key in settings and key != "epochs"}
    values.update({key: value for key, value in given.items() if key in settings and value is not None})
    config = TrainConfig(model=recipe.name, options=options,
                         **{key: value for key, value in values.items() if value is not None})
    if config.epochs is not None:  # the length in passes over the data instead
        config = dataclasses.replace(config, iterations=None)
    return config


def options_fields(options_class):
    """The fields of a recipe's options dataclass (each becomes a command-line flag)."""
    return dataclasses.fields(options_class) if options_class is not None else ()


def option_defaults(options_class):
    """{flag: default} of a recipe's options: the values of a checkpoint made before a flag
    existed (a new flag's default keeps the model as it was; where a default has changed
    since, the class's LEGACY_DEFAULTS says what such a checkpoint trained with)."""
    return {**{f.name: f.default for f in options_fields(options_class)},
            **getattr(options_class, "LEGACY_DEFAULTS", {})}


def checkpoint_defaults(options_class):
    """What a checkpoint's config counts as for the settings it lacks: TrainConfig's legacy
    values and the recipe's option defaults."""
    return {**TrainConfig.LEGACY_DEFAULTS, **option_defaults(options_class)}


def flag(default, help, **argparse_settings):
    """A field of a recipe's options dataclass: its default, and what its command-line flag
    says (`help`, and argparse settings such as `choices` or `type`)."""
    return field(default=default, metadata={"help": help, **argparse_settings})

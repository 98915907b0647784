"""Batches for the training loop: a resumable sampler of indices, the labelled subset of a
semi-supervised run, and the batch sources the step functions draw from.

A step function asks its batch source for what it needs, as often as it needs it
(`batches.next_images()`; an SGAN step `next_labeled()` and `next_unlabeled()`; a
conditional GAN's step `next_labeled()` from the whole training set), so a
model that trains its critic five times per generator step simply asks five times.
Every source can report and restore its position (`state()` / `set_state()`) for exact
resuming.
"""
import numpy as np

import minigrad


class BatchSampler:
    """Random batches of indices into `num_examples` examples, forever; reproducible and
    resumable exactly.

    Every epoch is a fresh permutation drawn by a Generator seeded with (seed, epoch), so
    the whole position is (epoch, position in the epoch): `state()` is a small JSON-able
    dict for the checkpoint and `set_state()` continues with the very next batch.
    drop_last=True skips the incomplete tail of each epoch, so every batch is full.
    """

    def __init__(self, num_examples, batch_size, seed=0, drop_last=True):
        if batch_size < 1 or num_examples < 1:
            raise ValueError(f"need num_examples >= 1 and batch_size >= 1, got {num_examples}, {batch_size}")
        if drop_last and batch_size > num_examples:
            raise ValueError(f"batch_size {batch_size} > num_examples {num_examples} with drop_last: "
                             f"no full batch exists")
        self.num_examples, self.batch_size = int(num_examples), int(batch_size)
        self.seed, self.drop_last = int(seed), bool(drop_last)
        self.epoch, self.position = 0, 0
        self._order = None  # permutation of the current epoch, drawn on demand

    @property
    def batches_per_epoch(self):
        full, tail = divmod(self.num_examples, self.batch_size)
        return full + (0 if self.drop_last or tail == 0 else 1)

    def _permutation(self, epoch):
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)

    def __iter__(self):
        return self

    def __next__(self):
        end_of_epoch = (self.position + self.batch_size > self.num_examples if self.drop_last
                        else self.position >= self.num_examples)
        if end_of_epoch:
            self.epoch, self.position, self._order = self.epoch + 1, 0, None
        if self._order is None:
            self._order = self._permutation(self.epoch)
        batch = self._order[self.position:self.position + self.batch_size]
        self.position += len(batch)
        return batch

    def state(self):
        return {"num_examples": self.num_examples, "batch_size": self.batch_size,
                "seed": self.seed, "drop_last": self.drop_last,
                "epoch": self.epoch, "position": self.position}

    def set_state(self, state):
        mine = self.state()
        for key in ("num_examples", "batch_size", "drop_last"):
            if state[key] != mine[key]:
                raise ValueError(f"sampler state has {key}={state[key]!r}, this sampler has "
                                 f"{mine[key]!r}: it belongs to another run")
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])
        self._order = None


# ---------------------------------------------------------------- semi-supervised split

def labeled_subset(labels, num_labeled=100, seed=0, balanced=True, num_classes=10):
    """Indices (sorted, int64) of the examples whose labels a semi-supervised GAN may see.

    balanced=True: num_labeled / num_classes per class, drawn by `seed`.
    balanced=False: the first num_labeled examples, as the original SGAN tutorial does.
    """
    labels = np.asarray(labels)
    if not 0 < num_labeled <= len(labels):
        raise ValueError(f"num_labeled must be in 1..{len(labels)}, got {num_labeled}")
    if not balanced:
        return np.arange(num_labeled, dtype=np.int64)
    if num_labeled % num_classes:
        raise ValueError(f"a balanced subset needs num_labeled divisible by {num_classes}, "
                         f"got {num_labeled}")
    per_class = num_labeled // num_classes
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} examples, fewer than the {per_class} asked for")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def unlabeled_indices(num_examples, labeled):
    """The indices in range(num_examples) not in `labeled` (sorted, int64)."""
    mask = np.ones(num_examples, dtype=bool)
    mask[np.asarray(labeled, dtype=np.int64)] = False
    return np.flatnonzero(mask).astype(np.int64)


# ---------------------------------------------------------------- batch sources

class ShuffledBatches:
    """Shuffled batches of the whole training set, as tensors on the active backend, drawn
    by one sampler whose position `state()` reports under the subclass's `state_key`."""
    state_key = None

    def __init__(self, images, batch_size, seed, labels=None):
        self.images, self.labels = images, labels  # host (N, 1, 28, 28) in [-1, 1], (N,)
        self.sampler = BatchSampler(len(images), batch_size, seed)

    @property
    def batches_per_epoch(self):
        return self.sampler.batches_per_epoch

    def state(self):
        return {self.state_key: self.sampler.state()}

    def set_state(self, state):
        self.sampler.set_state(state[self.state_key])


class ImageBatches(ShuffledBatches):
    """Shuffled batches of training images."""
    state_key = "images"

    def next_images(self):
        return minigrad.tensor(self.images[next(self.sampler)])


class LabeledBatches(ShuffledBatches):
    """For a conditional model: shuffled batches (images, labels), labels int64."""
    state_key = "labeled"

    def __init__(self, images, labels, batch_size, seed):
        super().__init__(images, batch_size, seed, labels)

    def next_labeled(self):
        index = next(self.sampler)
        return minigrad.tensor(self.images[index]), minigrad.tensor(self.labels[index], dtype=np.int64)


def image_batches(data, config):
    """A recipe's `batches`: ImageBatches of the training images."""
    return ImageBatches(data.train_images, config.batch_size, config.seed)


def labeled_batches(data, config):
    """A recipe's `batches`: LabeledBatches of the training images and their labels."""
    return LabeledBatches(data.train_images, data.train_labels, config.batch_size, config.seed)


class SemiSupervisedBatches:
    """For a semi-supervised model: labelled batches (images, labels) drawn from the few
    labelled images, and batches of all the other images, unlabelled.

    labeled_batch_size: the labelled batch's size; by default the batch size, or all the
    labelled images when there are fewer. Larger than the labelled set, the set is cycled:
    each batch is whole fresh permutations of it, cut to size (the rest of the last one is
    dropped). generator_stream=True adds a second, independent order of the unlabelled
    images (`next_unlabeled(for_generator=True)`), so that a step that shows the generator
    its own real batch leaves the discriminator's order, and the epoch, as they were.
    """

    def __init__(self, images, labels, labeled_index, batch_size, seed, supervised_only=False,
                 labeled_batch_size=None, generator_stream=False):
        self.labeled_images, self.labels = images[labeled_index], labels[labeled_index]
        self.unlabeled_images = images[unlabeled_indices(len(images), labeled_index)]
        self.supervised_only = supervised_only
        self.labeled_batch_size = labeled_batch_size or min(batch_size, len(labeled_index))
        self.labeled_sampler = BatchSampler(len(labeled_index),
                                            min(self.labeled_batch_size, len(labeled_index)), seed)
        self.unlabeled_sampler = BatchSampler(len(self.unlabeled_images), batch_size, seed + 1)
        self.generator_sampler = (BatchSampler(len(self.unlabeled_images), batch_size, seed + 2)
                                  if generator_stream else None)

    def next_labeled(self):
        index = next(self.labeled_sampler)
        while len(index) < self.labeled_batch_size:  # cycled: another permutation of the set
            index = np.concatenate([index, next(self.labeled_sampler)])
        index = index[:self.labeled_batch_size]
        return (minigrad.tensor(self.labeled_images[index]),
                minigrad.tensor(self.labels[index], dtype=np.int64))

    def next_unlabeled(self, for_generator=False):
        sampler = self.generator_sampler if for_generator else self.unlabeled_sampler
        if sampler is None:
            raise ValueError("next_unlabeled(for_generator=True) needs SemiSupervisedBatches("
                             "..., generator_stream=True)")
        return minigrad.tensor(self.unlabeled_images[next(sampler)])

    @property
    def batches_per_epoch(self):
        sampler = self.labeled_sampler if self.supervised_only else self.unlabeled_sampler
        return sampler.batches_per_epoch

    def state(self):
        state = {"labeled": self.labeled_sampler.state(), "unlabeled": self.unlabeled_sampler.state()}
        if self.generator_sampler is not None:
            state["unlabeled_for_generator"] = self.generator_sampler.state()
        return state

    def set_state(self, state):
        self.labeled_sampler.set_state(state["labeled"])
        self.unlabeled_sampler.set_state(state["unlabeled"])
        if self.generator_sampler is not None:
            self.generator_sampler.set_state(state["unlabeled_for_generator"])

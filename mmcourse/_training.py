"""Framework-neutral pieces of dual-encoder training, shared by ``mmcourse.torch`` and ``mmcourse.keras``.

Both tracks validate every argument of ``train_dual_encoder`` with :func:`training_config`,
sample batches and their extra captions with :class:`BatchPlan`, schedule the learning rate
with :class:`Clock` / :func:`lr_factor` and evaluate with :func:`make_evaluator`, so their
results are comparable and their errors the same. Each track keeps only framework code (tensors,
optimiser, compiled step). Imports neither torch nor TensorFlow.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from itertools import combinations

import numpy as np

#: Default number of training steps in both tracks: ≈ 35 (PyTorch) / 28 (Keras) steps/s at
#: batch 128 on 2 quiet CPU cores → well under 60 s.
DEFAULT_STEPS = 1500
LOSSES = ("infonce", "vse", "vse_hardest")
RNN_KINDS = ("gru", "lstm", "bow")
#: Default CPU threads of a training run, the same in both tracks (see :func:`training_config`).
DEFAULT_NUM_THREADS = 2
#: The keys of a training history, in order (per step, then per evaluation).
HISTORY_KEYS = ("step", "loss", "temperature", "lr", "seconds", "eval_step", "eval_seconds",
                "val_R@1", "val_R@5", "val_R@10", "val_i2t_R@10")


def positive_number(value, name):
    """``value`` as a float when it is a finite number > 0; None passes through (optional settings)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


FN_DIRECTIONS = ("both", "t2i", "i2t")


def false_negative_mode(value):
    """The masking direction for ``mask_false_negatives``: True → "both", False/None → None."""
    from ._validation import check_choice

    if value is True:
        return "both"
    if value is False or value is None:
        return None
    return check_choice(value, "mask_false_negatives", FN_DIRECTIONS)


def check_dataset(dataset):
    """``(train, val)`` subsets of a CaptionDataset, checked to be trainable (val may be None)."""
    from .data.dataset import CaptionDataset

    if not isinstance(dataset, CaptionDataset):
        raise ValueError(f"dataset: expected a mmcourse CaptionDataset, got {type(dataset).__name__}")
    n_train = int((dataset.split == "train").sum())
    if n_train < 2:
        raise ValueError(f"dataset: expected at least 2 images in the 'train' split, got {n_train}")
    train = dataset.subset("train")
    if train.n_captions < 2:
        raise ValueError(f"dataset: expected at least 2 training images with captions, got "
                         f"{train.n_images} images and {train.n_captions} captions in 'train'")
    val = dataset.subset("val") if (dataset.split == "val").any() else None
    return train, val


def scene_groups(dataset, modality: str) -> list[np.ndarray]:
    """For each scene (image) of ``dataset``, the indices of its ``modality`` items, in index
    order (``"image"``: the scene itself; ``"text"``: its captions, as ``image_captions()``)."""
    scene = dataset.modality(modality).scene_index
    order = np.argsort(scene, kind="stable")
    bounds = np.searchsorted(scene[order], np.arange(dataset.n_images + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(dataset.n_images)]


class Batches:
    """Seeded sampler of one modality pair ``(a, b)``: epochs over the shuffled scenes that have
    items of both, ``batch_size`` distinct scenes per batch, and one random item of each modality
    per scene. A modality with exactly one item per scene (an image, a clip) takes it without a
    draw, so the image–text pair draws exactly what it always drew: one caption per image."""

    def __init__(self, dataset, batch_size, rng, pair=("image", "text")):
        self.groups = [scene_groups(dataset, m) for m in pair]
        self.single = [all(len(g) <= 1 for g in groups) for groups in self.groups]
        self.images = np.array([s for s in range(dataset.n_images)
                                if all(len(groups[s]) for groups in self.groups)], dtype=np.int64)
        self.batch_size = min(batch_size, len(self.images))
        self.rng = rng
        self._order, self._pos = np.empty(0, np.int64), 0

    def next(self):
        """``(a_items, b_items)``: int64 (batch,) item indices of the two modalities, row i of
        both from the same scene."""
        if self._pos + self.batch_size > len(self._order):
            self._order, self._pos = self.rng.permutation(self.images), 0
        scenes = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        picks = []
        for groups, single in zip(self.groups, self.single):
            if single:
                picks.append(np.array([groups[s][0] for s in scenes], dtype=np.int64))
            else:
                picks.append(np.array([g[self.rng.integers(len(g))] for g in (groups[s] for s in scenes)],
                                      dtype=np.int64))
        return picks[0], picks[1]


def prefetched(make, count: int):
    """Yield ``make()`` ``count`` times, computing the next result in one background thread.

    Batch preparation (sampling, false-negative masks, counterfactual captions, tokens) is
    NumPy/Python work that would otherwise wait for each training step. TensorFlow runs a whole
    compiled step without holding the GIL, so the two overlap (``mmcourse.keras``); PyTorch's
    eager loop needs the GIL between its many small ops and measured slower with a second Python
    thread, so ``mmcourse.torch`` prepares inline. One worker runs the calls in order, so the
    seeded random generators are used in the same order as without it: same batches, same
    results. A consumer that stops early (a time budget) leaves at most one unused result.
    """
    from concurrent.futures import ThreadPoolExecutor

    if count < 1:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmcourse-batches") as pool:
        pending = pool.submit(make)
        try:
            for i in range(count):
                ready = pending.result()
                if i + 1 < count:
                    pending = pool.submit(make)
                yield ready
        finally:
            pending.cancel()


class Clock:
    """Where a training run stands: the progress that drives the learning-rate schedule, and the
    optional wall-clock budget.

    ``progress(step)`` is the fraction of training done before ``step`` (1-based), in [0, 1]:
    ``(step - 1) / steps``, or under a ``time_budget`` the larger of that and the fraction of
    the budget used. That time fraction counts from the end of the first step, which carries
    one-off costs (TensorFlow traces its step function for seconds): counting them would make
    the schedule jump past its warm-up at step 2. ``over()`` is True once ``time_budget``
    seconds of wall-clock time (everything included) have passed since the clock started.
    """

    def __init__(self, steps: int, time_budget: float | None = None):
        self.steps, self.budget = steps, time_budget
        self.start = time.perf_counter()
        self.first_step_end = None

    def elapsed(self) -> float:
        """Seconds since the clock started."""
        return time.perf_counter() - self.start

    def step_done(self) -> None:
        if self.first_step_end is None:
            self.first_step_end = self.elapsed()

    def over(self) -> bool:
        return self.budget is not None and self.elapsed() >= self.budget

    def progress(self, step: int) -> float:
        frac = (step - 1) / self.steps
        if self.budget is not None and self.first_step_end is not None:
            left = max(self.budget - self.first_step_end, 1e-9)
            frac = max(frac, (self.elapsed() - self.first_step_end) / left)
        return min(frac, 1.0)


def lr_factor(progress: float, warmup: float = 0.03, floor: float = 0.02) -> float:
    """Linear warm-up over the first 3 % of training, then cosine decay to ``floor``."""
    if progress < warmup:
        return max(progress / warmup, 0.05)
    p = min((progress - warmup) / (1 - warmup), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))



# ----------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainConfig:
    """Every argument of ``train_dual_encoder``, validated (see :func:`training_config`).

    ``train`` / ``val``: the dataset's splits (val may be None); ``steps``: the number of steps
    (from ``epochs`` when given); ``mask_fn``: the false-negative masking direction actually used
    (None when off or when the dataset has no relevance structure); ``pairs``: the modality pairs
    the contrastive loss runs over, e.g. ``(("image", "text"),)``, each a scene modality first
    where it has one; ``counterfactual_pair``: the pair whose captions get hard negatives and
    scene twins (a scene modality and ``"text"``), or None.
    """

    train: object
    val: object
    rnn: str
    loss: str
    steps: int
    time_budget: float | None
    batch_size: int
    lr: float
    weight_decay: float
    margin: float
    hinge_warmup: float
    seed: int
    hard_negatives: bool
    scene_twins: int
    twin_weight: float
    twin_start: float
    mask_fn: str | None
    eval_every: int
    eval_images: int
    min_freq: int
    num_threads: int | None
    pairs: tuple = (("image", "text"),)
    counterfactual_pair: tuple | None = ("image", "text")


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def modality_pairs(modalities) -> tuple[tuple[str, str], ...]:
    """Every unordered pair of ``modalities`` in their order: ("image", "text", "audio") →
    (("image", "text"), ("image", "audio"), ("text", "audio")); the pairs InfoNCE runs over."""
    return tuple(combinations(tuple(modalities), 2))


def training_config(dataset, *, rnn="gru", loss="infonce", steps=None, epochs=None, time_budget=None,
                    batch_size=128, lr=3e-3, weight_decay=1e-4, margin=0.2, hinge_warmup=0.25,
                    seed=0, hard_negatives=False, scene_twins=0, twin_weight=1.0, twin_start=0.0,
                    mask_false_negatives="t2i", eval_every=None, eval_images=500, min_freq=1,
                    num_threads=DEFAULT_NUM_THREADS, model_modalities=("image", "text"),
                    trainable_pairs=(("image", "text"),)) -> TrainConfig:
    """Validate the arguments of ``train_dual_encoder`` (either track) into a :class:`TrainConfig`.

    Every bad value raises a ValueError naming the argument, up front — before any framework
    work, and never later inside a batch-preparing thread. Counterfactual captions
    (``hard_negatives``, ``scene_twins``) are checked against ``dataset.counterfactuals``.

    ``num_threads`` defaults to ``DEFAULT_NUM_THREADS`` = 2 in both tracks: the course is
    designed and measured on 2 CPU cores, a fixed count gives the same speed and the same
    floating-point reductions on a bigger machine, and several notebooks or test workers running
    at once do not oversubscribe the cores. ``None`` leaves the framework's own setting.
    ``model_modalities``: the towers of the model to train; every pair of them present in the
    dataset must be one of ``trainable_pairs`` (the pairs the track's loop can batch; None: any).
    """
    from ._validation import check_choice, check_int

    check_choice(rnn, "rnn", RNN_KINDS)
    check_choice(loss, "loss", LOSSES)
    train, val = check_dataset(dataset)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    lr = positive_number(lr, "lr")
    if lr is None:
        raise ValueError("lr: expected a positive number, got None")
    weight_decay = _non_negative(weight_decay, "weight_decay")
    margin = _non_negative(margin, "margin")
    time_budget = positive_number(time_budget, "time_budget")
    seed = check_int(seed, "seed", minimum=0)
    eval_images = check_int(eval_images, "eval_images", minimum=2)
    if isinstance(hinge_warmup, bool) or not isinstance(hinge_warmup, (int, float)) \
            or not 0 <= hinge_warmup < 1:
        raise ValueError(f"hinge_warmup: expected a fraction in [0, 1), got {hinge_warmup!r}")
    if steps is not None and epochs is not None:
        raise ValueError(f"steps: expected steps or epochs, not both; got steps={steps}, epochs={epochs}")
    n_batches = max(len([c for c in train.image_captions() if len(c)]) // batch_size, 1)
    if epochs is not None:
        steps = check_int(epochs, "epochs") * n_batches
    steps = DEFAULT_STEPS if steps is None else check_int(steps, "steps")
    eval_every = max(steps // 5, 1) if eval_every is None else check_int(eval_every, "eval_every")
    if not isinstance(hard_negatives, (bool, np.bool_)):
        raise ValueError(f"hard_negatives: expected True or False, got {hard_negatives!r}")
    fn_mode = false_negative_mode(mask_false_negatives)
    min_freq = check_int(min_freq, "min_freq")
    if num_threads is not None:
        num_threads = check_int(num_threads, "num_threads")
    pairs = training_pairs(train, model_modalities, trainable_pairs)
    cf_pair = next((p for p in pairs if p[1] == "text"
                    and train.modality(p[0]).role == "scene"), None)
    if hard_negatives:
        check_counterfactual(train, "hard_negatives", cf_pair, dataset.name)
    scene_twins, twin_weight = check_twins(scene_twins, twin_weight, train, dataset.name)
    if isinstance(twin_start, bool) or not isinstance(twin_start, (int, float)) or not 0 <= twin_start < 1:
        raise ValueError(f"twin_start: expected a fraction of the steps in [0, 1), got {twin_start!r}")
    if scene_twins:
        check_counterfactual(train, "scene_twins", cf_pair, dataset.name)
    return TrainConfig(train=train, val=val, rnn=rnn, loss=loss, steps=steps, time_budget=time_budget,
                       batch_size=batch_size, lr=lr, weight_decay=weight_decay, margin=margin,
                       hinge_warmup=float(hinge_warmup), seed=seed, hard_negatives=bool(hard_negatives),
                       scene_twins=scene_twins, twin_weight=twin_weight, twin_start=float(twin_start),
                       mask_fn=fn_mode if train.has_structure else None, eval_every=eval_every,
                       eval_images=eval_images, min_freq=min_freq, num_threads=num_threads,
                       pairs=pairs, counterfactual_pair=cf_pair)


def training_pairs(train, model_modalities, trainable_pairs) -> tuple:
    """The modality pairs to train: every pair of the model's towers that the dataset carries,
    each oriented scene modality first (``("image", "text")``, ``("video", "text")``); ValueError
    unless they are all among ``trainable_pairs`` (either orientation)."""
    present = [m for m in model_modalities if m in train.modalities]
    pairs = tuple((b, a) if train.modality(a).role == "description" and train.modality(b).role == "scene"
                  else (a, b) for a, b in modality_pairs(present))
    allowed = () if trainable_pairs is None else trainable_pairs
    trainable = {tuple(p) for p in allowed} | {tuple(p)[::-1] for p in allowed}
    if not pairs or (trainable_pairs is not None and any(p not in trainable for p in pairs)):
        raise ValueError(f"model: expected towers whose modality pairs in the dataset are among "
                         f"{sorted(tuple(p) for p in allowed)}, got towers "
                         f"{tuple(model_modalities)} and dataset modalities {tuple(train.modalities)} "
                         f"(pairs {list(pairs)})")
    return pairs


def check_counterfactual(train, capability: str, pair, dataset_name) -> None:
    """ValueError unless the dataset writes ``capability`` and the model trains a scene modality
    against the captions (``pair``), where counterfactual captions go."""
    if capability not in train.counterfactuals:
        raise ValueError(f"{capability}: expected a dataset that writes them (counterfactual captions, "
                         f"e.g. the shapes scenes), got {dataset_name!r} which has "
                         f"{list(train.counterfactuals) or 'none'}")
    if pair is None:
        raise ValueError(f"{capability}: expected a model with a scene tower (image, video) and a "
                         f"text tower, whose captions get the counterfactuals; got none")


def check_twins(scene_twins, twin_weight, train, dataset_name):
    """Validated ``(scene_twins, twin_weight)``: how many images per batch get a relational
    caption and its swapped twin from their scene, and the weight of that pairwise loss."""
    from ._validation import check_int

    scene_twins = check_int(scene_twins, "scene_twins", minimum=0)
    if twin_weight is None:
        raise ValueError("twin_weight: expected a positive number, got None")
    twin_weight = positive_number(twin_weight, "twin_weight")
    if scene_twins and "scene_twins" not in train.counterfactuals:
        raise ValueError(f"scene_twins: expected 0 for a dataset without counterfactual captions "
                         f"(twins are built from shapes scenes), got {scene_twins} for {dataset_name!r}")
    return scene_twins, twin_weight


# ----------------------------------------------------------------------------- batches
@dataclass
class PairBatch:
    """One modality pair's part of a batch: ``a`` and ``b`` int64 (batch,) item indices of
    ``pair[0]`` and ``pair[1]`` (row i of both from one scene), and ``fn_mask`` bool
    (batch, batch) or None: entry (i, j) True when b-item j also fits a-item i (not a negative
    when ranking a-items for it)."""

    pair: tuple
    a: np.ndarray
    b: np.ndarray
    fn_mask: np.ndarray | None


@dataclass
class Batch:
    """One training batch as NumPy data: ``parts``, one :class:`PairBatch` per modality pair of
    the config (the contrastive loss runs over each); ``negatives`` list[str] or None
    (counterfactual captions, one per caption of the counterfactual pair that has one);
    ``twin_rows`` int64 (p,) or None (rows of that pair whose scene has a scene twin) and
    ``twin_texts`` list[str] (p positives, then their p twins) or None. ``images``,
    ``captions`` and ``fn_mask`` are the first pair's (the image–text pair of a dual encoder)."""

    parts: list
    negatives: list | None
    twin_rows: np.ndarray | None
    twin_texts: list | None

    @property
    def images(self) -> np.ndarray:
        return self.parts[0].a

    @property
    def captions(self) -> np.ndarray:
        return self.parts[0].b

    @property
    def fn_mask(self) -> np.ndarray | None:
        return self.parts[0].fn_mask


class BatchPlan:
    """The seeded sequence of training batches of a config, in both tracks the same.

    One :class:`Batches` sampler per modality pair: the first with generator ``seed``, pair k > 0
    with ``seed + 2 + k``; ``seed + 1`` draws the hard negatives and ``seed + 2`` the scene
    twins, both for ``config.counterfactual_pair`` (a scene modality and the captions), from
    ``train.hard_negatives`` / ``train.scene_twins`` (the dataset's capability). Scene twins start
    at batch ``twin_start * steps + 1`` (a curriculum: the contrastive loss alone before that).
    """

    def __init__(self, config: TrainConfig):
        self.config, self.train = config, config.train
        self.samplers = [Batches(config.train, config.batch_size,
                                 np.random.default_rng(config.seed + (2 + k if k else 0)), pair)
                         for k, pair in enumerate(config.pairs)]
        self.batches = self.samplers[0]
        self.neg_rng = np.random.default_rng(config.seed + 1)
        self.twin_rng = np.random.default_rng(config.seed + 2)
        self.count = 0  # batches made so far

    def next(self) -> Batch:
        cfg, train = self.config, self.train
        self.count += 1
        parts = []
        for pair, sampler in zip(cfg.pairs, self.samplers):
            a, b = sampler.next()
            mask = None
            if cfg.mask_fn:
                mask = train.relevance(pair[1], pair[0], b, a, graded=False).T > 0
            parts.append(PairBatch(pair, a, b, mask))
        negs = rows = texts = None
        if cfg.counterfactual_pair is not None:
            cf = parts[cfg.pairs.index(cfg.counterfactual_pair)]
            if cfg.hard_negatives:
                negs = [t for t in train.hard_negatives(cf.b.tolist(), self.neg_rng) if t] or None
            if cfg.scene_twins and self.count > cfg.twin_start * cfg.steps:
                # relational captions from the scenes, against their swapped twins
                scenes = train.modality(cf.pair[0]).scene_index[cf.a[:cfg.scene_twins]]
                r, pos, twin = train.scene_twins(scenes, self.twin_rng)
                if len(r):
                    rows, texts = np.asarray(r), list(pos) + list(twin)
        return Batch(parts, negs, rows, texts)


# ----------------------------------------------------------------------------- evaluation
def make_evaluator(val, max_images: int, seed: int, embed, pair=("image", "text")):
    """``f() -> dict`` on ``val`` for the modality pair ``(a, b)`` (a scene modality and a
    description one, e.g. image and text): b→a hit rate@1/5/10 (``val_R@k``) and a→b R@10
    (``val_i2t_R@10``), or None when ``val`` is too small to rank (fewer than 2 scenes or no
    b-item).

    ``embed(modality, items) -> (n, d)`` float32 unit rows (the track's embedding function).
    Up to ``max_images`` validation scenes are kept (a seeded sample, in index order).
    b→a counts every a-item that satisfies a b-item as relevant (where the dataset knows),
    a→b only the scene's own items (the papers' protocol).
    """
    from .metrics import hit_rate_at_k

    a, b = pair
    if val is None or val.n_images < 2 or val.count(b) < 1:
        return None
    if val.n_images > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(val.n_images, max_images, replace=False))
        val = val.subset(image_indices=keep)
    b2a_rel = val.relevance(b, a) > 0
    a2b_rel = val.paired(a, b)

    def evaluate():
        emb_a = embed(a, val.get(a))
        emb_b = embed(b, val.get(b))
        scores = emb_b @ emb_a.T
        out = {f"val_R@{k}": float(hit_rate_at_k(scores, b2a_rel, k=k)) for k in (1, 5, 10)}
        out["val_i2t_R@10"] = float(hit_rate_at_k(scores.T, a2b_rel, k=10))
        return out

    return evaluate


class History:
    """The training history: a dict of lists (``HISTORY_KEYS``), filled by :meth:`step` and
    :meth:`evaluation`; ``evaluate_due`` says when the loop should evaluate."""

    def __init__(self, config: TrainConfig, evaluate):
        self.config, self.evaluate = config, evaluate
        self.data = {k: [] for k in HISTORY_KEYS}

    def step(self, step, loss, temperature, lr, clock):
        d = self.data
        d["step"].append(step)
        d["loss"].append(loss)
        d["temperature"].append(temperature)
        d["lr"].append(lr)
        d["seconds"].append(clock.elapsed())

    def evaluate_due(self, step, clock) -> bool:
        return self.evaluate is not None and (step % self.config.eval_every == 0
                                              or step == self.config.steps or clock.over())

    def evaluation(self, step, clock):
        d = self.data
        d["eval_step"].append(step)
        for k, v in self.evaluate().items():
            d[k].append(v)
        d["eval_seconds"].append(clock.elapsed())

    def final_evaluation_due(self) -> bool:
        """True when the last step run was not evaluated (a time budget stopped the loop)."""
        d = self.data
        return self.evaluate is not None and bool(d["step"]) and \
            (not d["eval_step"] or d["eval_step"][-1] != d["step"][-1])

    def postfix(self) -> dict:
        return dict(loss=f"{self.data['loss'][-1]:.3f}", R10=f"{self.data['val_R@10'][-1]:.2f}")

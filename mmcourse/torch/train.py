"""The course's training loop: any joint model on a :class:`CaptionDataset`, over every pair of
its towers that the dataset carries.

Each step samples, per modality pair, ``batch_size`` distinct training scenes and one item of
each modality per scene (for a :class:`DualEncoder`: images and one of their captions), and
minimises a contrastive loss (InfoNCE or VSE hinge) per pair, summed; the learning rate follows
a short linear warm-up and a cosine decay. A modality's module registers how its items become
its tower's inputs (:func:`register_inputs`). Deterministic for a seed on the CPU when the run is
bounded by ``steps`` / ``epochs``; ``time_budget`` is an opt-in wall-clock stop and is therefore
not deterministic.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _training
from .._training import DEFAULT_NUM_THREADS, DEFAULT_STEPS, LOSSES  # noqa: F401  (public here)
from .._training import Clock as _Clock, lr_factor as _lr_factor
from .device import get_device
from .encoders import DualEncoder, JointEncoder
from .losses import info_nce_loss, twin_loss, vse_hinge_loss


def train_dual_encoder(dataset, *, rnn: str = "gru", loss: str = "infonce", steps: int | None = None,
                       epochs: int | None = None, time_budget: float | None = None,
                       batch_size: int = 128, lr: float = 3e-3, weight_decay: float = 1e-4,
                       margin: float = 0.2, hinge_warmup: float = 0.25, seed: int = 0, device=None,
                       hard_negatives: bool = False, mask_false_negatives="t2i",
                       progress: bool = True,
                       eval_every: int | None = None, eval_images: int = 500, model=None,
                       min_freq: int = 1, num_threads: int | None = DEFAULT_NUM_THREADS,
                       scene_twins: int = 0,
                       twin_weight: float = 1.0, twin_start: float = 0.0, **model_kw):
    """Train a :class:`DualEncoder` (or ``model``, any joint model) on the dataset's "train"
    split; evaluate on "val".

    The contrastive loss runs over every pair of the model's towers that the dataset carries,
    each oriented scene first: ``(image, text)`` for a DualEncoder; ``(video, text)`` for a
    :class:`~mmcourse.torch.video.VideoModel` on the clips; ``(image, text)``, ``(image,
    audio)`` and ``(text, audio)`` for a :class:`~mmcourse.torch.audio.SpeechModel` on spoken
    captions. Evaluation and the history report the first pair.

    Parameters
    ----------
    rnn : "gru" | "lstm" | "bow"; loss : "infonce" (learnable temperature) | "vse" (sum of
        hinges) | "vse_hardest" (VSE++, after ``hinge_warmup`` of the steps with the sum).
    steps / epochs : training length (default ``DEFAULT_STEPS`` steps; give at most one).
    time_budget : optional wall-clock stop in seconds, evaluations included (not deterministic);
        the LR schedule then follows whichever of steps and time runs out first, its clock
        starting after the first step (see ``mmcourse._training.Clock``).
    hard_negatives : add each caption's counterfactual twin (colours or relation swapped, from
        ``dataset.hard_negatives``) as an extra negative for its image; needs a dataset with
        ``has_counterfactuals`` (shapes).
    scene_twins : for this many images of each batch (shapes only), a relational caption built
        from the image's scene and its same-words twin (the relation's arguments or the colours
        swapped, from ``dataset.scene_twins``) enter
        :func:`~mmcourse.torch.losses.twin_loss`, weighted by ``twin_weight``, from the
        ``twin_start`` fraction of the steps on (a curriculum: the contrastive loss alone first,
        which keeps retrieval). Sampled captions
        are mostly not relational, and an argument-swapped twin only rarely: without this the GRU
        stays at chance on argument swaps.
    mask_false_negatives : where the dataset knows which images a caption describes (shapes,
        digits), images of the batch that a caption also fits are not used as its negatives:
        "t2i" (default) when ranking images for a caption only; "both" / True also when ranking
        captions for an image (it breaks the image→text protocol, since generic captions then
        outrank an image's own; see ``mmcourse.torch.losses``); False / None never.
    eval_every : evaluate every this many steps (default: 5 evaluations) on up to
        ``eval_images`` validation images. model : train this model (continue training it, or a
        fresh joint model such as a VideoModel) instead of a new DualEncoder.
    num_threads : torch CPU threads during training (restored afterwards); default 2 in both
        tracks (see ``mmcourse._training.training_config``); None keeps torch's setting.
    **model_kw : passed to :class:`DualEncoder` (embed_dim, channels, hidden_dim, ...).
    Every argument is validated up front by ``mmcourse._training.training_config``, the same
    function as in ``mmcourse.keras``.

    Returns ``(model, history)``; history is a dict of lists: per step ``step``, ``loss``,
    ``temperature``, ``lr``, ``seconds``; per evaluation ``eval_step``, ``eval_seconds``,
    ``val_R@1``, ``val_R@5``, ``val_R@10`` (text→image hit rate, relevant = every image that
    satisfies the caption where known) and ``val_i2t_R@10``.
    """
    if model is not None and not isinstance(model, JointEncoder):
        raise ValueError(f"model: expected a mmcourse.torch joint model (a DualEncoder, a "
                         f"VideoModel, ...) to train, got {type(model).__name__}")
    cfg = _training.training_config(
        dataset, rnn=rnn, loss=loss, steps=steps, epochs=epochs, time_budget=time_budget,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, margin=margin,
        hinge_warmup=hinge_warmup, seed=seed, hard_negatives=hard_negatives, scene_twins=scene_twins,
        twin_weight=twin_weight, twin_start=twin_start, mask_false_negatives=mask_false_negatives,
        eval_every=eval_every,
        eval_images=eval_images, min_freq=min_freq, num_threads=num_threads,
        model_modalities=("image", "text") if model is None else model.modalities,
        trainable_pairs=_training.modality_pairs(tuple(INPUTS)))
    dev = get_device(device)

    old_threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        torch.manual_seed(cfg.seed)
        if model is None:
            from ..text import Vocabulary

            vocab = Vocabulary.build(cfg.train.captions, min_freq=cfg.min_freq)
            model = DualEncoder(vocab, rnn=cfg.rnn, **model_kw)
        model.to(dev)
        if "image" in model.modalities:
            model.image_encoder.to(memory_format=torch.channels_last)
        history = _fit(model, cfg, dev, progress)
    finally:
        torch.set_num_threads(old_threads)
    model.eval()
    return model, history


#: modality → ``prepare(model, modality, device) -> take``: ``modality`` is the training split's
#: :class:`~mmcourse.data.modalities.Modality` (``.items``, ``.info``); ``take(indices)`` (an
#: int64 tensor of item indices) returns the inputs of ``model.encode(modality, *inputs)`` for
#: those items. A modality's own module registers its entry (:func:`register_inputs`), so
#: training runs over any pair of towers without an edit here.
INPUTS: dict = {}


def register_inputs(modality, prepare) -> None:
    """Make training feed ``modality``'s items to its tower through ``prepare`` (see ``INPUTS``)."""
    from .._towers import check_modality_name

    modality = check_modality_name(modality)
    if not callable(prepare):
        raise ValueError(f"prepare: expected a callable (model, modality, device) -> take, got "
                         f"{type(prepare).__name__}")
    INPUTS[modality] = prepare


def _image_inputs(model, modality, dev):
    """uint8 images (n, H, W, 3) → take(idx) = (float (b, 3, H, W) in [0, 1], channels_last,)."""
    images = torch.from_numpy(np.ascontiguousarray(modality.items)).permute(0, 3, 1, 2).to(dev)

    def take(idx):
        x = images[idx.to(dev)].float().div_(255.0)
        return (x.contiguous(memory_format=torch.channels_last),)

    return take


def _text_inputs(model, modality, dev):
    """Captions → take(idx) = (token ids (b, L), lengths (b,)) with the model's vocabulary."""
    ids, lengths = model.tokenize(list(modality.items), "dataset.captions")
    ids = ids.to(dev)

    def take(idx):
        return ids[idx.to(dev)], lengths[idx]

    return take


register_inputs("image", _image_inputs)
register_inputs("text", _text_inputs)


def _fit(model, cfg, dev, progress):
    from .embed import embed

    train = cfg.train
    plan = _training.BatchPlan(cfg)
    feeds = {m: INPUTS[m](model, train.modality(m), dev) for m in dict.fromkeys(sum(cfg.pairs, ()))}
    history = _training.History(cfg, _training.make_evaluator(
        cfg.val, cfg.eval_images, cfg.seed, lambda modality, items: embed(model, modality, items),
        cfg.pairs[0]))
    mask_fn, loss, lr = cfg.mask_fn, cfg.loss, cfg.lr

    decay = [p for n, p in model.named_parameters() if p.dim() > 1 and p.requires_grad]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1 and p.requires_grad]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)

    def prepare():
        """The next batch: per pair the item indices and false-negative mask, then the extra
        captions, as tensors."""
        b = plan.next()
        parts = [(part.pair, torch.from_numpy(part.a), torch.from_numpy(part.b),
                  None if part.fn_mask is None else torch.from_numpy(part.fn_mask)) for part in b.parts]
        negs = None if b.negatives is None else model.tokenize(b.negatives, "hard negatives")
        twins = None if b.twin_rows is None else \
            (torch.from_numpy(b.twin_rows), model.tokenize(b.twin_texts, "scene twins"))
        return parts, negs, twins

    def pair_loss(a_emb, b_emb, fn_mask, extra, frac):
        if loss == "infonce":
            return info_nce_loss(a_emb, b_emb, 1.0 / model.clamped_logit_scale().exp(),
                                 extra_negatives=extra, false_negatives=fn_mask,
                                 false_negative_directions=mask_fn or "both")
        hardest = loss == "vse_hardest" and frac >= cfg.hinge_warmup
        return vse_hinge_loss(a_emb, b_emb, cfg.margin, hardest=hardest, extra_negatives=extra,
                              false_negatives=fn_mask, false_negative_directions=mask_fn or "both")

    clock = _Clock(cfg.steps, cfg.time_budget)
    bar = tqdm(total=cfg.steps, disable=not progress, desc="training", leave=False)
    model.train()
    try:
        # batches are prepared inline: a prefetch thread (as in mmcourse.keras) competes with
        # PyTorch's eager dispatch for the GIL and measured slower here
        for step in range(1, cfg.steps + 1):
            if clock.over():
                break
            parts, negs, twins = prepare()
            frac = clock.progress(step)
            cur_lr = lr * _lr_factor(frac)
            for g in opt.param_groups:
                g["lr"] = cur_lr
            value = None
            for pair, a_idx, b_idx, fn_mask in parts:
                a_emb = model.encode(pair[0], *feeds[pair[0]](a_idx))
                b_emb = model.encode(pair[1], *feeds[pair[1]](b_idx))
                if fn_mask is not None:
                    fn_mask = fn_mask.to(dev)
                extra = None
                if negs is not None and pair == cfg.counterfactual_pair:
                    extra = model.encode("text", negs[0].to(dev), negs[1])
                term = pair_loss(a_emb, b_emb, fn_mask, extra, frac)
                if twins is not None and pair == cfg.counterfactual_pair:
                    rows, (t_ids, t_len) = twins
                    both = model.encode("text", t_ids.to(dev), t_len)
                    p = len(rows)
                    # a fixed temperature here: the twin loss alone would only sharpen it
                    term = term + cfg.twin_weight * twin_loss(
                        a_emb[rows.to(dev)], both[:p], both[p:],
                        1.0 / model.clamped_logit_scale().detach().exp())
                value = term if value is None else value + term
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            clock.step_done()
            history.step(step, float(value.detach()), model.temperature, cur_lr, clock)
            bar.update(1)
            if history.evaluate_due(step, clock):
                _record_eval(model, history, step, clock)
                bar.set_postfix(**history.postfix())
    finally:
        bar.close()
    if history.final_evaluation_due():
        _record_eval(model, history, history.data["step"][-1], clock)
    return history.data


def _record_eval(model, history, step, clock):
    model.eval()
    history.evaluation(step, clock)
    model.train()

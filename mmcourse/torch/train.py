"""Training loop for :class:`DualEncoder` on a :class:`CaptionDataset`.

Each step samples ``batch_size`` distinct training images, one of their captions each, and
minimises a contrastive loss (InfoNCE or VSE hinge) over the batch; the learning rate follows a
short linear warm-up and a cosine decay. Deterministic for a seed on the CPU when the run is
bounded by ``steps`` / ``epochs``; ``time_budget`` is an opt-in wall-clock stop and is therefore
not deterministic.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .._training import Batches as _Batches, Clock as _Clock, check_dataset as _check_dataset
from .._training import check_twins as _check_twins, has_shapes_meanings as _has_shapes_meanings
from .._training import false_negative_mode as _false_negative_mode
from .._training import lr_factor as _lr_factor, positive_number as _positive
from .._validation import check_choice, check_int
from .device import get_device
from .encoders import RNN_KINDS, DualEncoder
from .losses import info_nce_loss, twin_loss, vse_hinge_loss

LOSSES = ("infonce", "vse", "vse_hardest")
#: Default number of steps: ≈ 35 steps/s at batch 128 on 2 quiet CPU cores → well under 60 s.
DEFAULT_STEPS = 1500


def _evaluator(model, val, max_images, seed):
    """Returns ``f() -> dict`` with text→image hit rate@1/5/10 and image→text R@10 on ``val``."""
    from ..metrics import hit_rate_at_k
    from .embed import embed_images, embed_texts

    if val is None or val.n_images < 2 or val.n_captions < 1:
        return None
    if val.n_images > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(val.n_images, max_images, replace=False))
        val = val.subset(image_indices=keep)
    t2i_rel = val.text_image_relevance() > 0
    i2t_rel = val.image_text_relevance()

    def evaluate():
        img = embed_images(model, val.images)
        txt = embed_texts(model, val.captions)
        scores = txt @ img.T
        out = {f"val_R@{k}": float(hit_rate_at_k(scores, t2i_rel, k=k)) for k in (1, 5, 10)}
        out["val_i2t_R@10"] = float(hit_rate_at_k(scores.T, i2t_rel, k=10))
        return out

    return evaluate


def train_dual_encoder(dataset, *, rnn: str = "gru", loss: str = "infonce", steps: int | None = None,
                       epochs: int | None = None, time_budget: float | None = None,
                       batch_size: int = 128, lr: float = 3e-3, weight_decay: float = 1e-4,
                       margin: float = 0.2, hinge_warmup: float = 0.25, seed: int = 0, device=None,
                       hard_negatives: bool = False, mask_false_negatives="t2i",
                       progress: bool = True,
                       eval_every: int | None = None, eval_images: int = 500, model=None,
                       min_freq: int = 1, num_threads: int | None = None, scene_twins: int = 0,
                       twin_weight: float = 1.0, **model_kw):
    """Train a :class:`DualEncoder` on the dataset's "train" split; evaluate on "val".

    Parameters
    ----------
    rnn : "gru" | "lstm" | "bow"; loss : "infonce" (learnable temperature) | "vse" (sum of
        hinges) | "vse_hardest" (VSE++, after ``hinge_warmup`` of the steps with the sum).
    steps / epochs : training length (default ``DEFAULT_STEPS`` steps; give at most one).
    time_budget : optional wall-clock stop in seconds, evaluations included (not deterministic);
        the LR schedule then follows whichever of steps and time runs out first, its clock
        starting after the first step (see ``mmcourse._training.Clock``).
    hard_negatives : add each caption's counterfactual twin (colours or relation swapped, from
        ``mmcourse.data.shapes.hard_negatives``) as an extra negative for its image.
    scene_twins : for this many images of each batch (shapes only), a relational caption built
        from the image's scene and its same-words twin (the relation's arguments or the colours
        swapped, from ``mmcourse.data.shapes.scene_twins``) enter
        :func:`~mmcourse.torch.losses.twin_loss`, weighted by ``twin_weight``. Sampled captions
        are mostly not relational, and an argument-swapped twin only rarely: without this the GRU
        stays at chance on argument swaps.
    mask_false_negatives : where the dataset knows which images a caption describes (shapes,
        digits), images of the batch that a caption also fits are not used as its negatives:
        "t2i" (default) when ranking images for a caption only; "both" / True also when ranking
        captions for an image (it breaks the image→text protocol, since generic captions then
        outrank an image's own; see ``mmcourse.torch.losses``); False / None never.
    eval_every : evaluate every this many steps (default: 5 evaluations) on up to
        ``eval_images`` validation images. model : continue training this model.
    **model_kw : passed to :class:`DualEncoder` (embed_dim, channels, hidden_dim, ...).

    Returns ``(model, history)``; history is a dict of lists: per step ``step``, ``loss``,
    ``temperature``, ``lr``, ``seconds``; per evaluation ``eval_step``, ``eval_seconds``,
    ``val_R@1``, ``val_R@5``, ``val_R@10`` (text→image hit rate, relevant = every image that
    satisfies the caption where known) and ``val_i2t_R@10``.
    """
    check_choice(rnn, "rnn", RNN_KINDS)
    check_choice(loss, "loss", LOSSES)
    train, val = _check_dataset(dataset)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    lr, weight_decay = _positive(lr, "lr"), float(weight_decay)
    time_budget = _positive(time_budget, "time_budget")
    seed = check_int(seed, "seed", minimum=0)
    eval_images = check_int(eval_images, "eval_images", minimum=2)
    if not 0 <= hinge_warmup < 1:
        raise ValueError(f"hinge_warmup: expected a fraction in [0, 1), got {hinge_warmup!r}")
    if steps is not None and epochs is not None:
        raise ValueError(f"steps: expected steps or epochs, not both; got steps={steps}, epochs={epochs}")
    n_batches = max(len([c for c in train.image_captions() if len(c)]) // batch_size, 1)
    if epochs is not None:
        steps = check_int(epochs, "epochs") * n_batches
    steps = DEFAULT_STEPS if steps is None else check_int(steps, "steps")
    eval_every = max(steps // 5, 1) if eval_every is None else check_int(eval_every, "eval_every")
    if hard_negatives and not _has_shapes_meanings(train):
        raise ValueError(f"hard_negatives: expected a dataset with structured captions (shapes), "
                         f"got {dataset.name!r} which has none")
    scene_twins, twin_weight = _check_twins(scene_twins, twin_weight, train, dataset.name)
    fn_mode = _false_negative_mode(mask_false_negatives)
    dev = get_device(device)

    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(check_int(num_threads, "num_threads"))
    try:
        torch.manual_seed(seed)
        if model is None:
            from ..text import Vocabulary

            vocab = Vocabulary.build(train.captions, min_freq=min_freq)
            model = DualEncoder(vocab, rnn=rnn, **model_kw)
        elif not isinstance(model, DualEncoder):
            raise ValueError(f"model: expected a DualEncoder to continue training, got "
                             f"{type(model).__name__}")
        model.to(dev)
        model.image_encoder.to(memory_format=torch.channels_last)
        history = _fit(model, train, val, loss=loss, steps=steps, time_budget=time_budget,
                       batch_size=batch_size, lr=lr, weight_decay=weight_decay, margin=margin,
                       hinge_warmup=hinge_warmup, seed=seed, dev=dev, hard_negatives=hard_negatives,
                       mask_fn=fn_mode if train.has_structure else None,
                       progress=progress, eval_every=eval_every, eval_images=eval_images,
                       scene_twins=scene_twins, twin_weight=twin_weight)
    finally:
        torch.set_num_threads(old_threads)
    model.eval()
    return model, history


def _fit(model, train, val, *, loss, steps, time_budget, batch_size, lr, weight_decay, margin,
         hinge_warmup, seed, dev, hard_negatives, mask_fn, progress, eval_every, eval_images,
         scene_twins=0, twin_weight=1.0):
    rng = np.random.default_rng(seed)
    batches = _Batches(train, batch_size, rng)
    neg_rng = np.random.default_rng(seed + 1)
    twin_rng = np.random.default_rng(seed + 2)
    images = torch.from_numpy(np.ascontiguousarray(train.images)).permute(0, 3, 1, 2).to(dev)
    ids, lengths = model.tokenize(train.captions, "dataset.captions")
    ids = ids.to(dev)
    evaluate = _evaluator(model, val, eval_images, seed)
    if hard_negatives:
        from ..data.shapes import hard_negatives as make_negatives
    if scene_twins:
        from ..data.shapes import scene_twins as scene_twins_for

    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    keys = ("step", "loss", "temperature", "lr", "seconds", "eval_step", "eval_seconds",
            "val_R@1", "val_R@5", "val_R@10", "val_i2t_R@10")
    history = {k: [] for k in keys}

    def prepare():
        """The next batch's indices, false-negative mask and extra captions."""
        img_idx, cap_idx = batches.next()
        fn_mask = negs = twins = None
        if mask_fn:  # (image i, caption j) True when caption j fits image i
            fn_mask = torch.from_numpy(train.text_image_relevance(cap_idx, img_idx, graded=False).T > 0)
        if hard_negatives:
            negs = [t for t in make_negatives(train, cap_idx.tolist(), neg_rng) if t]
            negs = model.tokenize(negs, "hard negatives") if negs else None
        if scene_twins:  # relational captions from the scenes, against their swapped twins
            rows, pos, twin = scene_twins_for(train, img_idx[:scene_twins], twin_rng)
            twins = (torch.from_numpy(rows), model.tokenize(pos + twin, "scene twins")) if len(rows) else None
        return torch.from_numpy(img_idx), torch.from_numpy(cap_idx), fn_mask, negs, twins

    clock = _Clock(steps, time_budget)
    bar = tqdm(total=steps, disable=not progress, desc="training", leave=False)
    model.train()
    try:
        # batches are prepared inline: a prefetch thread (as in mmcourse.keras) competes with
        # PyTorch's eager dispatch for the GIL and measured slower here
        for step in range(1, steps + 1):
            if clock.over():
                break
            img_idx, cap_idx, fn_mask, negs, twins = prepare()
            frac = clock.progress(step)
            cur_lr = lr * _lr_factor(frac)
            for g in opt.param_groups:
                g["lr"] = cur_lr
            x = images[img_idx.to(dev)].float().div_(255.0)
            x = x.contiguous(memory_format=torch.channels_last)
            img_emb = model.encode_images(x)
            txt_emb = model.encode_texts(ids[cap_idx.to(dev)], lengths[cap_idx])
            extra = None
            if fn_mask is not None:
                fn_mask = fn_mask.to(dev)
            if negs is not None:
                extra = model.encode_texts(negs[0].to(dev), negs[1])
            if loss == "infonce":
                value = info_nce_loss(img_emb, txt_emb, 1.0 / model.clamped_logit_scale().exp(),
                                      extra_negatives=extra, false_negatives=fn_mask,
                                      false_negative_directions=mask_fn or "both")
            else:
                hardest = loss == "vse_hardest" and frac >= hinge_warmup
                value = vse_hinge_loss(img_emb, txt_emb, margin, hardest=hardest,
                                       extra_negatives=extra, false_negatives=fn_mask,
                                       false_negative_directions=mask_fn or "both")
            if twins is not None:
                rows, (t_ids, t_len) = twins
                both = model.encode_texts(t_ids.to(dev), t_len)
                p = len(rows)
                # a fixed temperature here: the twin loss alone would only sharpen it
                value = value + twin_weight * twin_loss(
                    img_emb[rows.to(dev)], both[:p], both[p:],
                    1.0 / model.clamped_logit_scale().detach().exp())
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            clock.step_done()
            history["step"].append(step)
            history["loss"].append(float(value.detach()))
            history["temperature"].append(model.temperature)
            history["lr"].append(cur_lr)
            history["seconds"].append(clock.elapsed())
            bar.update(1)
            if evaluate is not None and (step % eval_every == 0 or step == steps or clock.over()):
                _record_eval(model, history, evaluate, step, clock)
                bar.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                                R10=f"{history['val_R@10'][-1]:.2f}")
    finally:
        bar.close()
    if evaluate is not None and history["step"] and \
            (not history["eval_step"] or history["eval_step"][-1] != history["step"][-1]):
        _record_eval(model, history, evaluate, history["step"][-1], clock)
    return history


def _record_eval(model, history, evaluate, step, clock):
    model.eval()
    history["eval_step"].append(step)
    for k, v in evaluate().items():
        history[k].append(v)
    history["eval_seconds"].append(clock.elapsed())
    model.train()

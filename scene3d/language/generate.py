"""Scene -> language: unique referrals, object captions, a scene caption (Utterance records)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from scene3d.graph import RelationConfig, Viewpoint, build_scene_graph
from scene3d.graph.relations import EGOCENTRIC
from scene3d.graph.scene_graph import SceneGraph
from scene3d.language.captions import object_caption, scene_caption
from scene3d.language.paraphrase import Seq2SeqParaphraser, keeps_meaning, rule_paraphrase
from scene3d.language.program import evaluate, relation_matrix
from scene3d.language.realize import realize
from scene3d.language.referrals import Candidate, find_candidates, select
from scene3d.language.vocab import load_vocabulary
from scene3d.structures import Scene, Utterance


@dataclass(frozen=True)
class LanguageConfig:
    """What to generate per scene.

    Attributes:
        per_target: referrals per target object (targets whose class is unique get one).
        per_scene: cap on referrals per scene.
        chained: two-step chained referrals tried per target.
        paraphrase: share of referrals that also get a paraphrased copy.
        object_captions: write one caption per (non-structure, informative) object.
        scene_caption: write one caption for the scene.
        synonym_rate: share of class mentions in (unparaphrased) referrals that use a synonym.
        label_map: ScanNet ``scannetv2-labels.combined.tsv`` whose raw -> category names extend
            the built-in synonyms (:func:`scene3d.language.vocab.load_vocabulary`); None = built-in only.
        source: ``Utterance.source`` of every record ("generated"; "generated_real" for real layouts).
    """

    per_target: int = 4
    per_scene: int = 120
    chained: int = 1
    paraphrase: float = 0.3
    object_captions: bool = True
    scene_caption: bool = True
    synonym_rate: float = 0.2
    label_map: str | None = None
    source: str = "generated"


def _anchor_ids(graph: SceneGraph, cand: Candidate) -> tuple[int, ...]:
    """Ids of the anchor objects that make the referral true for its target."""
    clause = cand.program.clause
    if clause is None or clause.relation == "middle":
        return ()
    ids = graph.objects.ids
    if clause.relation == "between":
        a, b = (evaluate(x, graph) for x in clause.anchors)
        trip = graph.relations.between
        rows = trip[(trip[:, 0] == cand.target) & ((a[trip[:, 1]] & b[trip[:, 2]]) | (a[trip[:, 2]] & b[trip[:, 1]]))]
        return tuple(sorted({int(ids[k]) for k in rows[:1, 1:].reshape(-1)}))
    hits = relation_matrix(graph, clause.relation)[cand.target] & evaluate(clause.anchors[0], graph)
    return tuple(int(ids[k]) for k in np.flatnonzero(hits))


def _record(graph: SceneGraph, text: str, cand: Candidate, k: int, paraphrased: bool,
            distractors: int, source: str) -> Utterance:
    rel = cand.program.clause.relation if cand.program.clause else cand.relation
    vp = graph.viewpoint
    view = rel in EGOCENTRIC
    return Utterance(
        scene_id=graph.scene_id, target_id=int(graph.objects.ids[cand.target]), text=text,
        target_label=graph.objects.labels[cand.target], anchor_ids=_anchor_ids(graph, cand),
        distractor_ids=(), relation=rel, view_dependent=view, hard=distractors > 1, source=source,
        utterance_id=f"{graph.scene_id}-r{k}{'p' if paraphrased else ''}", kind="referral",
        paraphrased=paraphrased,
        viewpoint=tuple(float(v) for v in (*vp.position, *vp.direction)) if view and vp is not None else None,
    )


def generate_language(scene: Scene | SceneGraph, seed: int = 0, config: LanguageConfig | None = None,
                      viewpoint: Viewpoint | None = None, relation_config: RelationConfig | None = None,
                      paraphraser: Seq2SeqParaphraser | None = None) -> list[Utterance]:
    """Referrals, object captions and a scene caption for one scene.

    Args:
        scene: a Scene (its graph is built) or a ready SceneGraph.
        seed: word choices and sampling.
        config: how much to generate.
        viewpoint: enables egocentric referrals (recorded in each Utterance).
        relation_config: thresholds when ``scene`` is a Scene.
        paraphraser: an optional model; else paraphrases are rule-based.

    Returns:
        Utterances. Every referral's program matches exactly its target.
    """
    cfg = config or LanguageConfig()
    vocab = load_vocabulary(cfg.label_map)
    graph = scene if isinstance(scene, SceneGraph) else build_scene_graph(scene, viewpoint, relation_config)
    rng = np.random.default_rng(seed)
    labels = graph.objects.labels
    names = vocab.scene_names(labels)
    class_count = Counter(labels)
    counts = {i: class_count[labels[i]] for i in range(len(labels))}
    chosen = select(find_candidates(graph, rng, cfg.chained, vocab), rng, cfg.per_target, cfg.per_scene, counts)
    out: list[Utterance] = []
    to_model: list[tuple[Candidate, int]] = []
    for k, cand in enumerate(chosen):
        match = evaluate(cand.program, graph)
        if match.sum() != 1 or not match[cand.target]:  # the generator's own guarantee, checked
            raise AssertionError(f"referral program is not unique: {cand.program}")
        distractors = counts[cand.target] - 1
        text = realize(cand.program, graph, rng, names=names, synonym_rate=cfg.synonym_rate)
        out.append(_record(graph, text, cand, k, False, distractors, cfg.source))
        if rng.random() < cfg.paraphrase:
            if paraphraser is None:
                out.append(_record(graph, rule_paraphrase(cand.program, graph, rng, names), cand, k, True,
                                   distractors, cfg.source))
            else:
                to_model.append((cand, k))
    if to_model:
        texts = paraphraser([o.text for o in out if o.utterance_id in {f"{graph.scene_id}-r{k}" for _, k in to_model}])
        for (cand, k), text in zip(to_model, texts):
            if keeps_meaning(text, cand.program, vocab):
                out.append(_record(graph, text, cand, k, True, counts[cand.target] - 1, cfg.source))
    if cfg.object_captions:
        for i in np.flatnonzero(~graph.objects.structure & graph.label_flags(vocab.informative)):
            text, anchors = object_caption(graph, int(i), rng, vocab)
            out.append(Utterance(
                scene_id=graph.scene_id, target_id=int(graph.objects.ids[i]), text=text, target_label=labels[i],
                anchor_ids=tuple(int(graph.objects.ids[a]) for a in anchors), source=cfg.source,
                utterance_id=f"{graph.scene_id}-c{i}", kind="object_caption", hard=counts[int(i)] > 2,
            ))
    if cfg.scene_caption:
        out.append(Utterance(scene_id=graph.scene_id, target_id=None, text=scene_caption(graph, rng, vocabulary=vocab),
                             source=cfg.source, utterance_id=f"{graph.scene_id}-s", kind="scene_caption"))
    return out


def language_stats(utterances: list[Utterance]) -> dict:
    """Counts by kind and relation, hard share, view-dependent share, mean length (words)."""
    refs = [u for u in utterances if u.kind == "referral"]
    scenes = {u.scene_id for u in utterances}
    return {
        "utterances": len(utterances),
        "scenes": len(scenes),
        "by_kind": dict(Counter(u.kind for u in utterances).most_common()),
        "referrals_per_scene": len(refs) / max(len(scenes), 1),
        "unique_referral_texts_per_scene": len({(u.scene_id, u.text) for u in refs}) / max(len(scenes), 1),
        "by_relation": dict(Counter(u.relation or "attribute" for u in refs).most_common()),
        "hard_share": sum(bool(u.hard) for u in refs) / max(len(refs), 1),
        "view_dependent_share": sum(u.view_dependent for u in refs) / max(len(refs), 1),
        "paraphrased_share": sum(u.paraphrased for u in refs) / max(len(refs), 1),
        "mean_words": {k: float(np.mean([len(u.text.split()) for u in utterances if u.kind == k]))
                       for k in sorted({u.kind for u in utterances})},
    }


def format_stats(stats: dict) -> str:
    """The stats as a plain-text table."""
    rows = [f"utterances: {stats['utterances']} in {stats['scenes']} scenes  "
            + "  ".join(f"{k}: {v}" for k, v in stats["by_kind"].items()),
            f"referrals per scene: {stats['referrals_per_scene']:.1f} "
            f"(unique texts {stats['unique_referral_texts_per_scene']:.1f})   hard: {stats['hard_share']:.0%}   "
            f"view-dependent: {stats['view_dependent_share']:.0%}   paraphrased: {stats['paraphrased_share']:.0%}",
            "mean words: " + "  ".join(f"{k} {v:.1f}" for k, v in stats["mean_words"].items()),
            "referrals by relation:"]
    items = [f"{k:<14}{v:>6}" for k, v in stats["by_relation"].items()]
    rows += ["  " + "   ".join(items[i:i + 4]) for i in range(0, len(items), 4)]
    return "\n".join(rows)

"""The grounding transformer (GPS-style): object tokens with pairwise geometric
attention, fused with the sentence's tokens, scored per object.

Read top to bottom: embed objects and (once) their pair geometry -> L x [cross-attention
to text, spatial self-attention (its pair-geometry bias weighted by the sentence), MLP],
where after the first layer an anchor head picks the objects the sentence relates to and
every object receives its (sentence-gated) pair geometry to them -> per-object referral score,
plus a learned multiple of how well the object's class
name matches the class the sentence asks for (the target-class
head, trained by its own loss); projections for the object-text and scene-text
contrastive losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from scene3d.models.point_encoder import PointSetEncoder
from scene3d.models.text_encoder import minilm_text_encoder


@dataclass(frozen=True)
class GroundingConfig:
    """Sizes of :class:`GroundingTransformer`.

    Attributes:
        dim: width of object tokens.
        layers: fusion layers.
        heads: attention heads.
        text_dim: width of the text encoder's features (384 for all-MiniLM-L6-v2).
        pair_dim: width of the embedded pair geometry (computed once, shared by all layers).
        points: points sampled per object for the point-set encoder; 0: object-list mode
            (box, colour and class name only).
        text_finetune: the model owns a trainable all-MiniLM-L6-v2 (``text_encoder``) that
            encodes its sentences (class names and captions stay with the frozen one).
        dropout: dropout in attention and MLPs.
        mentions: objects also get the lexical features of their class name against the
            sentence (:mod:`scene3d.grounding.mentions`: named, head noun named, first
            named, position), in their token and directly in their score.
        relations: objects also get hand-made relation features computed from the boxes, the
            mention features and which objects share a class (:func:`relation_features`:
            how near the named objects of other classes are, and where the object ranks among
            its own class by that nearness, size, height and centrality), in their token and
            in their score with weights read from the sentence (so "closest" and "farthest",
            "largest" and "smallest" can weigh a rank in opposite ways). Needs ``mentions``.
    """

    dim: int = 128
    layers: int = 3
    heads: int = 4
    text_dim: int = 384
    pair_dim: int = 16
    points: int = 0
    text_finetune: bool = False
    dropout: float = 0.1
    mentions: bool = True
    relations: bool = False

    def __post_init__(self) -> None:
        if self.relations and not self.mentions:
            raise ValueError("GroundingConfig.relations needs mentions=True (the relations start from the named objects)")


@dataclass
class GroundingOutput:
    """Model outputs for B (scene, sentence) pairs with N object slots.

    Attributes:
        logits: (B, N) referral scores (-inf on padding).
        object_embed: (B, N, text_dim) unimodal object embeddings, L2-normalised (for
            object-caption alignment).
        scene_embed: (B, text_dim) pooled scene embedding, L2-normalised.
        class_query: (B, text_dim) the sentence's guess of the target class, L2-normalised
            (compared with class-name embeddings).
        class_match: (B, N) cosine between each object's class-name embedding and
            ``class_query`` (how well the object's class fits what the sentence asks for).
        anchor_logits: (B, N) which objects the sentence uses as anchors (-inf on padding).
    """

    logits: torch.Tensor
    object_embed: torch.Tensor
    scene_embed: torch.Tensor
    class_query: torch.Tensor
    class_match: torch.Tensor
    anchor_logits: torch.Tensor


GEOMETRY_DIM = 12  # per object: centre, size, colour, front (cos, sin), has-front
PAIR_DIM = 13
MENTION_DIM = 4  # per object: its class named, head noun named, first named, position (scene3d.grounding.mentions)
RELATION_DIM = 8  # per object: see relation_features


def pair_features(geometry: torch.Tensor) -> torch.Tensor:
    """(B, N, N, PAIR_DIM) geometry of each ordered object pair (i, j), from object geometry
    (B, N, >= 12) laid out as in :func:`scene3d.grounding.data.scene_geometry`.

    Features (metres unless noted): offset from i to j (3); horizontal and 3D distance (2);
    horizontal direction cos / sin (2); i's position in j's own frame (along j's front, to
    j's left; zeros when j has no front) (2); vertical gaps bottom(i) - top(j) and
    bottom(j) - top(i) (2); the share of i's footprint that j's covers (1, axis-aligned);
    log volume ratio i / j (1).
    """
    c, size = geometry[..., :3], geometry[..., 3:6].clamp(min=1e-3)
    front, has_front = geometry[..., 9:11], geometry[..., 11:12]
    d = c[:, None, :, :] - c[:, :, None, :]                                      # (B, N, N, 3) from i to j
    dist_xy = torch.linalg.norm(d[..., :2], dim=-1, keepdim=True)
    dist = torch.linalg.norm(d, dim=-1, keepdim=True)
    direction = d[..., :2] / dist_xy.clamp(min=1e-6)
    fj = front[:, None, :, :]                                                     # j's front, (B, 1, N, 2)
    along = -(d[..., 0:1] * fj[..., 0:1] + d[..., 1:2] * fj[..., 1:2])          # i - j projected on j's front
    left = -(fj[..., 0:1] * d[..., 1:2] - fj[..., 1:2] * d[..., 0:1])           # i - j to j's left
    local = torch.cat([along, left], -1) * has_front[:, None, :, :]
    bottom, top = c[..., 2:3] - size[..., 2:3] / 2, c[..., 2:3] + size[..., 2:3] / 2
    gaps = torch.cat([bottom[:, :, None] - top[:, None, :], bottom[:, None, :] - top[:, :, None]], -1)
    lo, hi = c[..., :2] - size[..., :2] / 2, c[..., :2] + size[..., :2] / 2
    inter = (torch.minimum(hi[:, :, None], hi[:, None, :]) - torch.maximum(lo[:, :, None], lo[:, None, :])).clamp(min=0)
    cover = inter.prod(-1, keepdim=True) / (size[..., 0:1] * size[..., 1:2])[:, :, None]
    volume = size.prod(-1).log()
    ratio = (volume[:, :, None] - volume[:, None, :])[..., None]
    return torch.cat([d, dist_xy, dist, direction, local, gaps, cover, ratio], dim=-1)


def _rank_in_class(value: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Where each object's ``value`` (B, N) lies between the least and the greatest value of
    its class (``same``: (B, N, N) same class and both real), in [0, 1]; 0.5 when the class
    has one object or one value."""
    big = torch.finfo(value.dtype).max
    row = value[:, None, :].expand_as(same)
    lo = row.masked_fill(~same, big).amin(-1)
    hi = row.masked_fill(~same, -big).amax(-1)
    spread = hi - lo
    pos = (value - lo) / spread.clamp(min=1e-6)
    return torch.where(spread > 1e-6, pos, torch.full_like(pos, 0.5))


def relation_features(geometry: torch.Tensor, label_embed: torch.Tensor, mask: torch.Tensor,
                      mentions: torch.Tensor) -> torch.Tensor:
    """(B, N, RELATION_DIM) hand-made relation features of each object for its sentence.

    Inputs: object geometry (B, N, >= 6; centre and size in metres, as in
    :func:`scene3d.grounding.data.scene_geometry`), class-name embeddings (B, N, D; objects
    of one class have the same embedding), the object mask (B, N) and the mention features
    (B, N, MENTION_DIM). The anchors of object i are the real objects j != i whose class the
    sentence names (``named`` > 0.5) and that are not of i's class.

    Columns: i has an anchor (1/0); exp(-gap / 1 m) of the gap between i's box and its
    nearest anchor's (per axis, 0 without an anchor); where that gap ranks among i's class
    (0: the nearest of its class to an anchor, 1: the farthest; 0.5 without anchors); the
    rank of i's log volume, of its centre height, and of its horizontal distance to its
    class's centroid, among its class (0: least); 1 / the number of objects of i's class; and
    whether i rests on or hangs under an anchor (its footprint overlaps the anchor's and its
    bottom is within 10 cm of the anchor's top, or its top of the anchor's bottom; 1/0).
    Rotation about z changes only the gaps, a little (boxes are compared along the frame's
    axes).
    """
    c, size = geometry[..., :3], geometry[..., 3:6].clamp(min=1e-3)
    real = mask[:, :, None] & mask[:, None, :]
    unit = nn.functional.normalize(label_embed, dim=-1)
    same = ((unit @ unit.transpose(1, 2)) > 0.999) & real                              # (B, N, N), diagonal included
    eye = torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
    anchor = (mentions[..., 0] > 0.5)[:, None, :] & ~same & real & ~eye                 # (B, N, N): j anchors i
    gap3 = ((c[:, :, None] - c[:, None, :]).abs() - (size[:, :, None] + size[:, None, :]) / 2).clamp(min=0)
    gap = torch.linalg.norm(gap3, dim=-1).masked_fill(~anchor, float("inf")).amin(-1)  # (B, N)
    has = anchor.any(-1)
    near_rank = _rank_in_class(torch.where(has, gap, torch.zeros_like(gap)), same & has[:, None, :] & has[:, :, None])
    near_rank = torch.where(has, near_rank, torch.full_like(near_rank, 0.5))
    centroid = (c[:, None, :, :2] * same[..., None]).sum(2) / same.sum(-1, keepdim=True).clamp(min=1)
    lo, hi = c[..., :2] - size[..., :2] / 2, c[..., :2] + size[..., :2] / 2
    overlap = ((torch.minimum(hi[:, :, None], hi[:, None, :]) - torch.maximum(lo[:, :, None], lo[:, None, :])) > 0).all(-1)
    bottom, top = c[..., 2] - size[..., 2] / 2, c[..., 2] + size[..., 2] / 2
    rests = ((bottom[:, :, None] - top[:, None, :]).abs() < 0.1) | ((top[:, :, None] - bottom[:, None, :]).abs() < 0.1)
    return torch.stack([
        has.float(),
        torch.where(has, torch.exp(-gap), torch.zeros_like(gap)),
        near_rank,
        _rank_in_class(size.prod(-1).log(), same),
        _rank_in_class(c[..., 2], same),
        _rank_in_class(torch.linalg.norm(c[..., :2] - centroid, dim=-1), same),
        1.0 / same.sum(-1).clamp(min=1),
        (anchor & overlap & rests).any(-1).float(),
    ], -1) * mask[..., None]


class SpatialSelfAttention(nn.Module):
    """Multi-head self-attention whose scores get a bias from embedded pair geometry.

    With ``text_dim``, the bias is conditioned on the sentence (as in ViL3DRel): each head
    weighs the pair embedding with weights predicted from the sentence, so "left of" and
    "above" look at different geometry.
    """

    def __init__(self, dim: int, heads: int, dropout: float, pair_dim: int, text_dim: int | None = None):
        super().__init__()
        self.heads, self.head_dim, self.pair_dim = heads, dim // heads, pair_dim
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.head_weights = nn.Linear(text_dim, heads * pair_dim) if text_dim else None
        self.fixed_weights = None if text_dim else nn.Parameter(torch.randn(heads, pair_dim) / math.sqrt(pair_dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, phi: torch.Tensor, mask: torch.Tensor,
                text_pooled: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D), phi (B, N, N, P) embedded pair geometry, mask (B, N), text_pooled (B, T_D)."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, hd)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)                          # (B, H, N, N)
        if self.head_weights is not None:
            w = self.head_weights(text_pooled).view(b, self.heads, self.pair_dim)             # (B, H, P)
        else:
            w = self.fixed_weights.expand(b, -1, -1)
        scores = scores + (phi.flatten(1, 2) @ w.transpose(1, 2)).view(b, n, n, self.heads).permute(0, 3, 1, 2)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        attn = self.drop(scores.softmax(-1))
        y = (attn @ v).transpose(1, 2).reshape(b, n, -1)                                       # (B, N, D)
        return self.out(y)


class FusionLayer(nn.Module):
    """Pre-norm: cross-attention to the text tokens (so each object knows whether the sentence
    names it), spatial self-attention (relations to the named objects), MLP."""

    def __init__(self, cfg: GroundingConfig):
        super().__init__()
        d = cfg.dim
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.cross = nn.MultiheadAttention(d, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.spatial = SpatialSelfAttention(d, cfg.heads, cfg.dropout, cfg.pair_dim, text_dim=cfg.text_dim)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(4 * d, d))

    def forward(self, x, phi, mask, text, text_mask, text_pooled):
        h = self.norm1(x)
        x = x + self.cross(h, text, text, key_padding_mask=~text_mask, need_weights=False)[0]
        x = x + self.spatial(self.norm2(x), phi, mask, text_pooled)
        return x + self.mlp(self.norm3(x))


class GroundingTransformer(nn.Module):
    """Scores every object of a scene for a sentence.

    Inputs (see :meth:`forward`): object geometry (B, N, GEOMETRY_DIM), class-name embeddings
    (B, N, text_dim), object mask (B, N), text tokens (B, T, text_dim) with mask (B, T)
    and pooled sentence embeddings (B, text_dim); with ``cfg.mentions``, the lexical
    mention features (B, N, MENTION_DIM); with ``cfg.points``, also object points
    (B, N, points, 6) and their validity (B, N, points).

    Predicted objects may carry K candidate classes each: class-name embeddings
    (B, N, K, text_dim) with ``label_weights`` (B, N, K), each object's class probabilities
    (summing to 1; 0 on unused candidates). The object token then reads the probability-weighted
    mix of its class embeddings; its class term in the score is marginalised over its classes,
    log sum_k p_k exp(class_scale * cos_k) (the class evidence of each hypothesis weighted by its
    probability: one certain class gives class_scale * cos as for an annotated object), and its
    reported class match is the expected cosine sum_k p_k cos_k.
    """

    def __init__(self, cfg: GroundingConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or GroundingConfig()
        d = cfg.dim
        self.geometry = nn.Sequential(nn.Linear(GEOMETRY_DIM, d), nn.GELU(), nn.Linear(d, d))
        self.pair = nn.Sequential(nn.Linear(PAIR_DIM, cfg.pair_dim), nn.GELU(), nn.Linear(cfg.pair_dim, cfg.pair_dim))
        self.label = nn.Linear(cfg.text_dim, d)
        self.mention = nn.Linear(MENTION_DIM, d) if cfg.mentions else None
        self.mention_score = nn.Linear(MENTION_DIM, 1) if cfg.mentions else None
        self.relation_in = nn.Linear(RELATION_DIM, d) if cfg.relations else None
        self.relation_weights = nn.Linear(cfg.text_dim, RELATION_DIM) if cfg.relations else None
        self.point_encoder = PointSetEncoder(d) if cfg.points else None
        self.text_encoder = minilm_text_encoder(trainable=True) if cfg.text_finetune else None
        self.text = nn.Linear(cfg.text_dim, d)
        self.encoder = SpatialSelfAttention(d, cfg.heads, cfg.dropout, cfg.pair_dim)   # one unimodal spatial layer
        self.encoder_norm = nn.LayerNorm(d)
        self.layers = nn.ModuleList([FusionLayer(cfg) for _ in range(cfg.layers)])
        self.anchor_norm = nn.LayerNorm(d)
        self.anchor_score = nn.Linear(d, 1)
        self.relation_gate = nn.Linear(cfg.text_dim, cfg.pair_dim)
        self.relation = nn.Linear(cfg.pair_dim, d)
        self.norm = nn.LayerNorm(d)
        self.score = nn.Linear(d, 1)
        self.object_proj = nn.Linear(d, cfg.text_dim)
        self.scene_proj = nn.Linear(d, cfg.text_dim)
        self.class_proj = nn.Linear(cfg.text_dim, cfg.text_dim)
        self.class_scale = nn.Parameter(torch.tensor(10.0))  # weight of the class-match prior

    def forward(self, geometry: torch.Tensor, label_embed: torch.Tensor, mask: torch.Tensor,
                text_tokens: torch.Tensor, text_mask: torch.Tensor, text_pooled: torch.Tensor,
                points: torch.Tensor | None = None, point_valid: torch.Tensor | None = None,
                mentions: torch.Tensor | None = None, label_weights: torch.Tensor | None = None) -> GroundingOutput:
        if label_embed.dim() == 4:                                                 # K candidate classes per object
            if label_weights is None:
                raise ValueError("class-name embeddings (B, N, K, text_dim) need label_weights (B, N, K)")
            mixed = (label_embed * label_weights[..., None]).sum(2)                # (B, N, text_dim)
        else:
            mixed = label_embed
        phi = self.pair(pair_features(geometry))                                   # (B, N, N, P), once
        x = self.geometry(geometry) + self.label(mixed)                            # (B, N, D)
        if self.point_encoder is not None:
            if points is None:
                raise ValueError(f"this model encodes {self.cfg.points} points per object: pass points")
            b, n = mask.shape
            x = x + self.point_encoder(points.flatten(0, 1), point_valid.flatten(0, 1)).view(b, n, -1)
        if self.mention is not None:
            if mentions is None:
                raise ValueError("this model reads the lexical mention features: pass mentions (B, N, MENTION_DIM)")
            x = x + self.mention(mentions)
        if self.relation_in is not None:
            relations = relation_features(geometry, mixed, mask, mentions)                # (B, N, RELATION_DIM)
            x = x + self.relation_in(relations)
        x = x + self.encoder(self.encoder_norm(x), phi, mask)                    # unimodal context
        m = mask[..., None].float()
        object_embed = nn.functional.normalize(self.object_proj(x), dim=-1)        # (B, N, text_dim)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1)                            # (B, D)
        scene_embed = nn.functional.normalize(self.scene_proj(pooled), dim=-1)
        t = self.text(text_tokens)                                                 # (B, T, D)
        for k, layer in enumerate(self.layers):
            x = layer(x, phi, mask, t, text_mask, text_pooled)
            if k == 0:  # after reading the sentence once: find the anchors, tell every object its relation to them
                anchor_logits = self.anchor_score(self.anchor_norm(x)).squeeze(-1).masked_fill(~mask, float("-inf"))
                message = torch.einsum("bijp,bj->bip", phi, anchor_logits.softmax(-1))      # (B, N, P)
                x = x + self.relation(message * self.relation_gate(text_pooled)[:, None, :])
        class_query = nn.functional.normalize(self.class_proj(text_pooled), dim=-1)   # (B, text_dim)
        # does the object's class match the class the sentence asks for? (open vocabulary)
        if label_embed.dim() == 4:   # marginalised over each object's candidate classes
            cosines = (nn.functional.normalize(label_embed, dim=-1) @ class_query[:, None, :, None]).squeeze(-1)
            class_match = (cosines * label_weights).sum(-1)                        # (B, N)
            class_term = torch.logsumexp(self.class_scale * cosines + label_weights.clamp(min=1e-30).log(), -1)
        else:
            class_match = (nn.functional.normalize(label_embed, dim=-1) @ class_query[:, :, None]).squeeze(-1)
            class_term = self.class_scale * class_match
        logits = self.score(self.norm(x)).squeeze(-1) + class_term                 # (B, N)
        if self.mention_score is not None:
            logits = logits + self.mention_score(mentions).squeeze(-1)
        if self.relation_weights is not None:   # the sentence weighs each relation feature
            logits = logits + (relations * self.relation_weights(text_pooled)[:, None, :]).sum(-1)
        logits = logits.masked_fill(~mask, float("-inf"))
        return GroundingOutput(logits, object_embed, scene_embed, class_query, class_match, anchor_logits)


class GroundingEnsemble(nn.Module):
    """Several :class:`GroundingTransformer` of one configuration answering together.

    Called like one member; returns one :class:`GroundingOutput`: referral and anchor scores
    are the mean of the members' log-probabilities (a normalised geometric mean of their
    answers; -inf on padding), class matches and embeddings their mean (embeddings
    re-normalised). Members that fine-tune their own text encoder are not supported: all
    members must read the same frozen sentence encoding.

    Raises:
        ValueError: no members, members of different configurations, or text fine-tuning.
    """

    def __init__(self, members: list[GroundingTransformer]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if any(m.cfg != members[0].cfg for m in members):
            raise ValueError("ensemble members must share one GroundingConfig")
        if members[0].cfg.text_finetune:
            raise ValueError("ensembles of models that fine-tune their text encoder are not supported")
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg
        self.text_encoder = None

    def forward(self, *args, **kwargs) -> GroundingOutput:
        outs = [m(*args, **kwargs) for m in self.members]

        def mean(name: str) -> torch.Tensor:
            return torch.stack([getattr(o, name) for o in outs]).mean(0)

        def mean_log_prob(name: str) -> torch.Tensor:
            return torch.stack([getattr(o, name).log_softmax(-1) for o in outs]).mean(0)

        unit = nn.functional.normalize
        return GroundingOutput(mean_log_prob("logits"), unit(mean("object_embed"), dim=-1), unit(mean("scene_embed"), dim=-1),
                               unit(mean("class_query"), dim=-1), mean("class_match"), mean_log_prob("anchor_logits"))

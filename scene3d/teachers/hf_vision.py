"""2D teachers from transformers vision towers in a local folder: CLIP, SigLIP, DINOv2.

Dense features are the patch tokens, upsampled to the map size. CLIP and SigLIP tokens are mapped
into the paired text space the way MaskCLIP does: CLIP patch tokens go through the tower's final
layer norm and ``visual_projection`` (the path of the pooled token); SigLIP patch tokens go through
the attention-pooling head with each token attending only to itself (its value and output
projections, then the head's residual MLP). DINOv2 has no text space (``embed_text`` raises).
Nothing is ever downloaded (``local_files_only=True``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scene3d.errors import ConfigError
from scene3d.structures import Frame, Scene
from scene3d.teachers.base import TeacherError, TeacherMap, map_mean

# image normalisation when the folder has no preprocessor_config.json
_DEFAULT_NORM = {
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "siglip": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "dinov2": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


class HFVisionTeacher:
    """A CLIP / SigLIP / DINOv2 vision tower as a dense teacher.

    Args:
        path: a local folder written by ``save_pretrained`` (config + weights; a tokenizer for text).
        downscale: the map is the frame downscaled by this integer factor.
        device: where the tower runs.

    Raises:
        ConfigError: the folder is missing, is not a CLIP / SigLIP / DINOv2 model, or cannot be loaded.
    """

    def __init__(self, path: str | Path, downscale: int = 2, device: str = "cpu"):
        from transformers import AutoConfig

        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError(f"teacher model folder {self.path} not found (teachers never download; "
                              "save_pretrained a model there first)")
        try:
            config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read a transformers config in {self.path}: {exc}") from None
        self.kind = config.model_type
        if self.kind not in _DEFAULT_NORM:
            raise ConfigError(f"{self.path}: model type {self.kind!r} is not a supported teacher "
                              f"(one of {sorted(_DEFAULT_NORM)})")
        self.downscale, self.device = int(downscale), torch.device(device)
        try:
            self.model = self._load().to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the {self.kind} model in {self.path}: {exc}") from None
        self.model.requires_grad_(False)
        vision_cfg = config if self.kind == "dinov2" else config.vision_config
        self.image_size, self.patch_size = int(vision_cfg.image_size), int(vision_cfg.patch_size)
        self.mean, self.std = self._normalisation()
        if self.kind == "clip":
            self.dim = int(config.projection_dim)
        elif self.kind == "siglip":
            self.dim = int(config.text_config.hidden_size)
        else:
            self.dim = int(config.hidden_size)
        self._tokenizer = None

    def _load(self):
        from transformers import CLIPModel, Dinov2Model, SiglipModel

        cls = {"clip": CLIPModel, "siglip": SiglipModel, "dinov2": Dinov2Model}[self.kind]
        return cls.from_pretrained(str(self.path), local_files_only=True)

    def _normalisation(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = _DEFAULT_NORM[self.kind]
        pre = self.path / "preprocessor_config.json"
        if pre.is_file():
            data = json.loads(pre.read_text())
            mean, std = data.get("image_mean", mean), data.get("image_std", std)
        return torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)

    def _patch_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(1, 3, S, S) normalised image -> (1, S/p * S/p, D) patch features in the output space."""
        if self.kind == "dinov2":
            return self.model(pixel_values=pixels).last_hidden_state[:, 1:]  # drop CLS; layer-normed
        vision = self.model.vision_model
        hidden = vision(pixel_values=pixels).last_hidden_state
        if self.kind == "clip":
            return self.model.visual_projection(vision.post_layernorm(hidden[:, 1:]))
        # siglip: last_hidden_state is already post-layer-normed; no CLS token
        head = vision.head
        d = hidden.shape[-1]
        w_v, b_v = head.attention.in_proj_weight[2 * d:], head.attention.in_proj_bias[2 * d:]
        x = head.attention.out_proj(F.linear(hidden, w_v, b_v))  # attention to itself only
        return x + head.mlp(head.layernorm(x))

    @torch.no_grad()
    def __call__(self, scene: Scene, frame: Frame) -> TeacherMap:
        """Features of ``frame`` at ``(H / downscale, W / downscale)``; valid everywhere."""
        f = self.downscale
        if frame.height % f or frame.width % f:
            raise TeacherError(f"frame {frame.name}: size {frame.width}x{frame.height} is not divisible by "
                               f"downscale={f}")
        rgb = torch.from_numpy(np.ascontiguousarray(frame.rgb)).permute(2, 0, 1).float() / 255.0  # (3, H, W)
        s = self.image_size
        pixels = F.interpolate(rgb[None], size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        pixels = ((pixels - self.mean) / self.std).to(self.device)
        tokens = self._patch_tokens(pixels)  # (1, g*g, D)
        g = s // self.patch_size
        grid = tokens[0].reshape(g, g, -1).permute(2, 0, 1).float().cpu()  # (D, g, g)
        out = F.interpolate(grid[None], size=(frame.height // f, frame.width // f), mode="bilinear",
                            align_corners=False)[0]  # (D, H', W')
        feats = F.normalize(out.permute(1, 2, 0), dim=-1)  # (H', W', D)
        return TeacherMap(features=feats.contiguous(), valid=torch.ones(feats.shape[:2], dtype=torch.bool))

    def mean_feature(self, scene: Scene, frame: Frame) -> torch.Tensor:
        """``(D,)`` unit direction of the map's mean feature (:func:`~scene3d.teachers.base.map_mean`)."""
        return map_mean(self(scene, frame))

    @torch.no_grad()
    def embed_text(self, names: list[str]) -> torch.Tensor:
        """``(K, D)`` L2-normalised text embeddings (``"a photo of a {name}."``) in the features' space.

        Raises:
            TeacherError: a DINOv2 teacher (no text space) or a folder without a tokenizer.
        """
        if self.kind == "dinov2":
            raise TeacherError(f"{self.path}: DINOv2 has no text space; zero-shot needs a CLIP / SigLIP "
                               "or the label teacher")
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise TeacherError(f"{self.path}: no usable tokenizer for the text tower ({exc})") from None
        prompts = [f"a photo of a {n}." for n in names]
        enc = self._tokenizer(prompts, padding="max_length" if self.kind == "siglip" else True,
                              truncation=True, return_tensors="pt").to(self.device)
        out = self.model.get_text_features(input_ids=enc["input_ids"],
                                           **({} if self.kind == "siglip" else {"attention_mask": enc["attention_mask"]}))
        out = out if torch.is_tensor(out) else out.pooler_output
        return F.normalize(out.float().cpu(), dim=-1)


def hf_vision_teacher(path: str | Path, downscale: int = 2, device: str = "cpu") -> HFVisionTeacher:
    """A CLIP / SigLIP / DINOv2 teacher from the local folder ``path`` (see :class:`HFVisionTeacher`)."""
    return HFVisionTeacher(path, downscale=downscale, device=device)

"""The TV2TV world model: MoT over interleaved plans and latent chunks, trained like Transfusion.

Loss = text cross-entropy + flow_weight * rectified-flow velocity MSE on the noisy chunks
+ reward_weight * (reward MSE + termination BCE). Rectified flow: x_t = t x_1 + (1 - t) x_0
with x_1 the clean latent and x_0 ~ N(0, I); the model predicts the velocity x_1 - x_0.
Where the model has a refiner (`chunk_refiner`, `MoTConfig.refiner_channels`), that velocity is
the transformer's, corrected on each chunk's latent grid from the chunk before.
The reward and termination heads read step k's BOF token, which has seen the context and
step k's text but not yet its chunk: they judge what the action will bring *before* the frames
are drawn (as MuZero's reward from state and action), so a planner's scores do not hinge on how
well an imagined chunk depicts a random event (a fruit reappearing somewhere). Checkpoints from
before this choice read the EOF after the clean chunk (`FlowConfig.reward_token = "eof"`).
The termination head may read differently (`FlowConfig.termination_token`): "bof_eof" reads
BOF and the EOF after the chunk side by side, so it sees both the move and what the frames made
of it; which of a state's actions ends the game is told apart far better so (held-out
counterfactual states, 2026-11-27: within-state AUC 0.67 as trained, 0.74 for a linear head refit
on BOF, 0.84 refit on both; `docs/results.md`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from tv2tv_world.world_model.chunk_refiner import ChunkRefiner
from tv2tv_world.world_model.interleave import NOISY, TEXT, attention_mask, build_layout, text_targets
from tv2tv_world.world_model.mot import MoTConfig, MoTTransformer
from tv2tv_world.world_model.text_tokenizer import ByteTokenizer


def step_text(action_text: str, intent: str = "") -> str:
    """The text of one step: the player's new intent, when there is one, then the action."""
    return f"{intent}. {action_text}" if intent else action_text


TERMINATION_READS = ("bof", "eof", "bof_eof")


@dataclass
class FlowConfig:
    """How training samples the flow time and weighs the losses."""

    text_dropout: float = 0.1  # per-step chance the chunk is drawn without its text (classifier-free guidance)
    time_sampling: str = "logit_normal"  # or "uniform"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    flow_weight: float = 1.0
    reward_weight: float = 0.5
    reward_token: str = "bof"  # the token whose hidden state the reward head reads: "bof" or "eof"
    # what the termination head reads: "bof", "eof", or "bof_eof" (both, concatenated); None: as the reward head
    termination_token: str | None = None
    # how much a step that ends the episode weighs in the termination loss against one that does not: such steps
    # are rare (Forage: ~1 in 1,000 of the scripted player's) and the head barely learns them at 1
    termination_pos_weight: float = 1.0
    # which steps of a window train the termination head: "all", or "last". A window lies inside its episode,
    # so every step but the last is known to survive: trained on all, the head learns that episodes end only
    # at a window's last step (and never foresees an end a few steps into a rollout); the last is unbiased
    termination_steps: str = "all"
    # the flow loss weighs each video token by 1 + change_weight * (its squared change from the chunk before,
    # over the batch's mean change): objects are a few percent of a game's pixels, and unweighted, the
    # loss is dominated by still background that is easy to copy from the context
    change_weight: float = 0.0
    # context chunks (the clean copies that later tokens read) are corrupted in training to flow time
    # t_c ~ U(1 - context_noise, 1), x = t_c x_1 + (1 - t_c) noise, and carry t_c: so the model learns to read
    # imperfect chunks, as its own imagined ones are at sampling (GameNGen's noise augmentation, in the
    # flow's own terms); 0 = clean context
    context_noise: float = 0.0

    def __post_init__(self):
        if self.reward_token not in ("bof", "eof"):
            raise ValueError(f"reward_token must be 'bof' or 'eof', got {self.reward_token!r}")
        if self.termination_token not in (None, *TERMINATION_READS):
            raise ValueError(f"termination_token must be one of {TERMINATION_READS} or None, "
                             f"got {self.termination_token!r}")
        if self.time_sampling not in ("logit_normal", "uniform"):
            raise ValueError(f"time_sampling must be 'logit_normal' or 'uniform', got {self.time_sampling!r}")
        if not 0.0 <= self.text_dropout < 1.0:
            raise ValueError(f"text_dropout must be in [0, 1), got {self.text_dropout}")
        if self.termination_steps not in ("all", "last"):
            raise ValueError(f"termination_steps must be 'all' or 'last', got {self.termination_steps!r}")
        if not 0.0 <= self.context_noise < 1.0:
            raise ValueError(f"context_noise must be in [0, 1), got {self.context_noise}")
        if self.change_weight < 0:
            raise ValueError(f"change_weight must be >= 0, got {self.change_weight}")
        if not self.termination_pos_weight > 0:
            raise ValueError(f"termination_pos_weight must be > 0, got {self.termination_pos_weight}")

    @property
    def termination_reads(self) -> tuple[str, ...]:
        """The tokens whose hidden states the termination head reads, in the order they are concatenated."""
        return tuple((self.termination_token or self.reward_token).split("_"))


class WorldModel(nn.Module):
    """MoT transformer plus reward and termination heads, and the training loss."""

    def __init__(self, mot: MoTConfig, flow: FlowConfig | None = None, tokenizer: ByteTokenizer | None = None):
        super().__init__()
        self.tokenizer = tokenizer or ByteTokenizer()
        if mot.vocab_size != self.tokenizer.vocab_size:
            raise ValueError(f"MoT vocab_size {mot.vocab_size} != tokenizer vocab_size {self.tokenizer.vocab_size}")
        self.flow = flow or FlowConfig()
        self.transformer = MoTTransformer(mot)
        self.refiner = None
        if mot.refiner_channels:
            self.refiner = ChunkRefiner(mot.latent_channels, mot.refiner_channels, mot.refiner_blocks,
                                        mot.dim if mot.refiner_reads_hidden else None, mot.patch_size)
        self.reward_head = nn.Linear(mot.dim, 1)
        self.termination_head = nn.Linear(mot.dim * len(self.flow.termination_reads), 1)
        nn.init.constant_(self.termination_head.bias, -4.0)  # episodes rarely end: start near p = 0.02

    def heads(self, bof: torch.Tensor, eof: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (..., d) of steps' BOF and EOF -> reward (...) and termination logit (...)."""
        states = {"bof": bof, "eof": eof}
        reward = self.reward_head(states[self.flow.reward_token]).squeeze(-1)
        termination_in = torch.cat([states[token] for token in self.flow.termination_reads], dim=-1)
        return reward, self.termination_head(termination_in).squeeze(-1)

    def refine(self, velocity: torch.Tensor, noisy: torch.Tensor, previous: torch.Tensor,
               t: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """The velocity of m noisy chunks: the transformer's (m, N, c p p) refined (`chunk_refiner`) from the
        noisy chunks and the clean chunks before them (m, N, c p p) at flow times t (m,), and the transformer's
        hidden states of the noisy tokens (m, N, d) where the refiner reads them; as it is without one."""
        if self.refiner is None:
            return velocity
        grid, tokens = self.transformer.unpatchify, self.transformer.patchify
        return tokens(self.refiner(grid(velocity), grid(noisy), grid(previous), t, hidden))

    def encode_steps(self, texts: list[list[str]]) -> list[list[list[int]]]:
        """(b, n) step texts -> token ids."""
        return [[self.tokenizer.encode(t) for t in sample] for sample in texts]

    def sample_time(self, shape: tuple[int, ...], device) -> torch.Tensor:
        if self.flow.time_sampling == "uniform":
            return torch.rand(shape, device=device)
        return torch.sigmoid(torch.randn(shape, device=device) * self.flow.logit_std + self.flow.logit_mean)

    def loss(self, latents: torch.Tensor, texts: list[list[str]], rewards: torch.Tensor,
             terminated: torch.Tensor, prompts: list[str] | None = None) -> dict[str, torch.Tensor]:
        """latents (b, 1 + n, c, h, w) standardised, chunk 0 the anchor; texts (b, n); rewards, terminated (b, n).

        prompts: optional (b,) text before the anchor (the prompt-only baseline puts all its text there).
        """
        tok, tf = self.tokenizer, self.transformer
        b, chunks = latents.shape[:2]
        prompt_tokens = None if prompts is None else [tok.encode(p) for p in prompts]
        layout = build_layout(self.encode_steps(texts), tf.cfg.tokens_per_chunk, tok.bos, tok.bof, tok.eof, tok.pad,
                              prompt_tokens=prompt_tokens)
        layout = _to(layout, latents.device)
        dropout = self.flow.text_dropout if self.training else 0.0
        text_dropped = torch.rand(b, chunks, device=latents.device) < dropout

        clean = tf.patchify(latents)  # (b, 1 + n, N, d_patch)
        t = self.sample_time((b, chunks), latents.device)
        t[:, 0] = 1.0  # the anchor is context only
        noise = torch.randn_like(clean)
        noisy = t[..., None, None] * clean + (1 - t[..., None, None]) * noise
        context, t_context = clean, torch.ones_like(t)
        if self.training and self.flow.context_noise:
            t_context = 1 - self.flow.context_noise * torch.rand_like(t)
            context = t_context[..., None, None] * clean + (1 - t_context[..., None, None]) * torch.randn_like(clean)
        video, flow_time = self._gather(layout, context, noisy, t, t_context)
        logits, velocity, hidden = tf(layout, video, flow_time, attention_mask(layout, text_dropped))

        targets = text_targets(layout, tok.bof)
        text_loss = F.cross_entropy(rearrange(logits, "b l v -> (b l) v"), targets.flatten(), ignore_index=-100)
        # the noisy copies of chunks 1..n, chunk by chunk (every stream has them in that order)
        noisy_tokens = lambda x: rearrange(x[layout.kind == NOISY], "(b k n) d -> (b k) n d", b=b, n=clean.shape[2])  # noqa: E731
        per_chunk = lambda x: rearrange(x, "b k n d -> (b k) n d")  # noqa: E731
        chunk_velocity = self.refine(noisy_tokens(velocity), per_chunk(noisy[:, 1:]), per_chunk(context[:, :-1]),
                                     t[:, 1:].flatten(), noisy_tokens(hidden))
        flow_loss = self._flow_loss(clean, rearrange(chunk_velocity, "(b k) n d -> b k n d", b=b), (clean - noise)[:, 1:])

        # (b, n, d) each: step 0 (the anchor) has no reward
        bof, eof = (rearrange(hidden[(layout.kind == TEXT) & (layout.token == token)], "(b k) d -> b k d", b=b)[:, 1:]
                    for token in (tok.bof, tok.eof))
        reward, term_logits = self.heads(bof, eof)  # (b, n) each
        reward_loss = F.mse_loss(reward, rewards.float())
        if self.flow.termination_steps == "last":
            term_logits, terminated = term_logits[:, -1:], terminated[:, -1:]
        pos_weight = torch.tensor(self.flow.termination_pos_weight, device=latents.device)
        term_loss = F.binary_cross_entropy_with_logits(term_logits, terminated.float(), pos_weight=pos_weight)
        total = text_loss + self.flow.flow_weight * flow_loss + self.flow.reward_weight * (reward_loss + term_loss)
        return {"loss": total, "text": text_loss, "flow": flow_loss, "reward": reward_loss, "termination": term_loss}

    def _flow_loss(self, clean: torch.Tensor, velocity: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Velocity MSE of chunks 1..n: clean (b, 1 + n, N, d) latents; velocity, target (b, n, N, d)."""
        if not self.flow.change_weight:
            return F.mse_loss(velocity, target)
        change = (clean[:, 1:] - clean[:, :-1]).pow(2).mean(-1, keepdim=True)  # (b, n, N, 1)
        weight = 1 + self.flow.change_weight * change / change.mean().clamp_min(1e-8)
        error = (velocity - target).pow(2).mean(-1, keepdim=True)
        return (error * weight).sum() / weight.sum()

    @staticmethod
    def _gather(layout, clean: torch.Tensor, noisy: torch.Tensor, t: torch.Tensor, t_clean: torch.Tensor | None = None):
        """Place chunk tokens (b, chunks, N, d) into stream slots: (b, L, d) tokens and (b, L) flow times.

        t (b, chunks): the noisy copies' flow times; t_clean (b, chunks): the clean copies' (default 1).
        """
        n = clean.shape[2]
        index = (layout.chunk.clamp_min(0) * n + layout.patch)[..., None].expand(-1, -1, clean.shape[-1])
        flat = lambda x: rearrange(x, "b k n d -> b (k n) d")  # noqa: E731
        is_noisy, is_video = layout.kind == NOISY, layout.is_video
        tokens = torch.where(is_noisy[..., None], flat(noisy).gather(1, index), flat(clean).gather(1, index))
        tokens = tokens * is_video[..., None]
        chunk = layout.chunk.clamp_min(0)
        clean_time = torch.ones_like(layout.chunk, dtype=t.dtype) if t_clean is None else t_clean.gather(1, chunk)
        flow_time = torch.where(is_noisy, t.gather(1, chunk), clean_time)
        return tokens, flow_time


def _to(layout, device):
    return type(layout)(**{k: v.to(device) for k, v in vars(layout).items()})

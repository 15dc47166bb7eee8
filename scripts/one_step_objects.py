"""Where one imagined decision loses objects: per colour, and how large the latent error is.

Draws the first chunk after a real one for held-out windows (recorded actions, 8 Euler steps,
guidance 3) and prints: the latent error of the imagined chunk, on the cells that change from the
chunk before and on the rest; the objects kept by the tokenizer and by the model; what the decoder
keeps of the real latents under Gaussian noise of a few sizes (how sensitive it is to an error of
that size); and per moving colour the real, imagined and kept objects.

    python scripts/one_step_objects.py --checkpoint forage --data data/forage_heldout
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tv2tv_world.dataset.format import Manifest, read_episode
from tv2tv_world.evaluation.imagination import HeldOutEpisode, windows_of
from tv2tv_world.evaluation.object_metrics import GamePalette, ObjectCounts, frames_to_uint8
from tv2tv_world.world_model.loading import load_world_model
from tv2tv_world.world_model.model import step_text
from tv2tv_world.world_model.sampler import Sampler, SamplerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="forage")
    parser.add_argument("--data", default="data/forage_heldout")
    parser.add_argument("--windows", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(2)
    loaded = load_world_model(args.checkpoint)
    manifest = Manifest.load(args.data)
    episodes = [HeldOutEpisode(read_episode(Path(args.data) / e["file"]), loaded) for e in manifest.episodes]
    palette = GamePalette.from_frames([held.episode.frames for held in episodes[:8]])
    episodes = episodes[len(episodes) // 2 :]  # the half `tv2tv evaluate` scores
    windows = windows_of(episodes, 4, args.windows)
    anchors = torch.stack([episodes[e].latents[s] for e, s in windows])
    real_latents = torch.stack([episodes[e].latents[s + 1] for e, s in windows])
    texts = [step_text(manifest.action_texts[episodes[e].episode.actions[s]], episodes[e].episode.intents[s])
             for e, s in windows]
    real = frames_to_uint8(torch.stack([episodes[e].real_chunk_frames(s, s + 1, manifest.action_repeat)[0, :, -1]
                                        for e, s in windows]))
    sampler = Sampler(loaded.model, SamplerConfig(flow_steps=8, guidance=3.0, context_steps=5))
    imagined_latents = sampler.step(sampler.start(anchors), texts, generator=torch.Generator().manual_seed(0)).latents

    def kept(latents: torch.Tensor) -> str:
        counts = ObjectCounts()
        with torch.no_grad():
            counts.add(palette, real, frames_to_uint8(loaded.vae.decode(latents).clamp(-1, 1)[:, :, -1]))
        return f"F1 {counts.f1:.3f}, moving {counts.moving_f1:.3f}"

    error = (imagined_latents - real_latents).pow(2).mean(1)  # (b, h, w)
    change = (real_latents - anchors).pow(2).mean(1)
    changed = change > change.flatten().quantile(0.9)
    print(f"latent std {real_latents.std():.3f}; imagined RMSE {error.mean().sqrt():.3f}: "
          f"{error[changed].mean().sqrt():.3f} on the 10% most changed cells, {error[~changed].mean().sqrt():.3f} elsewhere")
    print(f"tokenizer {kept(real_latents)}; imagined {kept(imagined_latents)}")
    noise = torch.Generator().manual_seed(1)
    for sigma in (0.1, 0.3, 0.5):
        print(f"decoder under Gaussian latent noise {sigma} std: "
              f"{kept(real_latents + sigma * torch.randn(real_latents.shape, generator=noise))}")
    with torch.no_grad():
        imagined = frames_to_uint8(loaded.vae.decode(imagined_latents).clamp(-1, 1)[:, :, -1])
    pairs = list(zip(palette.objects(real), palette.objects(imagined)))
    matches = [palette.match(r, i) for r, i in pairs]
    for colour in palette.moving:
        real_count = sum(int((r.colours == colour).sum()) for r, _ in pairs)
        imagined_count = sum(int((i.colours == colour).sum()) for _, i in pairs)
        kept_count = sum(int(k[r.colours == colour].sum()) for (r, _), (k, _) in zip(pairs, matches))
        print(f"colour {palette.colours[colour]}: real {real_count}, imagined {imagined_count}, kept {kept_count}")


if __name__ == "__main__":
    main()

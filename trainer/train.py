"""Trains the toy model (VAE, then text encoder + UNet) on frames of the toy world and exports a diffusers folder.

    /usr/bin/python3 trainer/train.py --work .cache/toy-train --out assets/toy-model

Seeded and resumable: every `--checkpoint-every` steps the whole state (weights, optimiser, EMA, step) goes to
<work>/checkpoint.pt; rerunning the same command continues from there. Training data is a pure function of
(seed, phase, step), so the same command on the same machine gives the same weights. See trainer/README.md.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import configs  # noqa: E402
import models  # noqa: E402
import safetensors_io  # noqa: E402
import toy_world  # noqa: E402
from clip_tokenizer import ClipTokenizer  # noqa: E402

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work', default=os.path.join(REPO, '.cache', 'toy-train'), help='checkpoints and logs')
    p.add_argument('--out', default=os.path.join(REPO, 'assets', 'toy-model'), help='exported model folder')
    p.add_argument('--reference', default=os.path.join(REPO, 'test', 'fixtures', 'toy-model', 'reference.safetensors'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--vae-steps', type=int, default=1200)
    p.add_argument('--vae-batch', type=int, default=16)
    p.add_argument('--vae-crop', type=int, default=32)
    p.add_argument('--vae-sample-until', type=int, default=525,
                   help='VAE steps that decode a posterior sample; later steps decode the mean (what the engine encodes to)')
    p.add_argument('--unet-steps', type=int, default=4000)
    p.add_argument('--unet-batch', type=int, default=16)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--threads', type=int, default=1, help='torch threads (1 is fastest on a shared 2-core CPU)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--checkpoint-every', type=int, default=25)
    p.add_argument('--stop-unet-at', default=None,
                   help='wall-clock deadline (UTC, HH:MM) at which the UNet phase stops early; the card records the step reached')
    p.add_argument('--export-only', action='store_true', help='export the current checkpoint (or a fresh init) and exit')
    return p.parse_args()


# ---------------------------------------------------------------------------------------------------------
# data: a pure function of (seed, phase, step)

def frame_batch(seed, phase, step, batch, tokenizer=None, drop_caption=0.0):
    rng = np.random.default_rng([seed, phase, step])
    images, ids = [], []
    held = toy_world.WORLD['heldOut']['seedsFrom']
    while len(images) < batch:
        clip_seed = int(rng.integers(0, held))
        params = toy_world.clip_params(clip_seed)
        if toy_world.combo_held_out(params['shape'], params['colour'], params['pattern'], params['background']):
            continue
        rgb, _ = toy_world.render_frame(params, int(rng.integers(0, params['frames'])))
        images.append(rgb)
        if tokenizer is not None:
            template = int(rng.integers(0, len(toy_world.WORLD['captionTemplates'])))
            text = '' if rng.random() < drop_caption else toy_world.caption(params, template)
            ids.append(tokenizer.encode_for_model(text))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x, (torch.tensor(ids, dtype=torch.int64) if tokenizer is not None else None), rng


# ---------------------------------------------------------------------------------------------------------
# state

def alphas_cumprod():
    s = configs.SCHEDULER
    betas = torch.linspace(s['beta_start'] ** 0.5, s['beta_end'] ** 0.5, s['num_train_timesteps'], dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


class State:
    def __init__(self, args):
        torch.manual_seed(args.seed)
        self.vae = models.AutoencoderKL(dict(configs.VAE))
        self.text = models.CLIPTextModel(configs.TEXT_ENCODER)
        # CLIP's initialisation of the embeddings (transformers CLIPTextEmbeddings: normal, std 0.02 * factor)
        torch.nn.init.normal_(self.text.text_model.embeddings.token_embedding.weight, std=0.02)
        torch.nn.init.normal_(self.text.text_model.embeddings.position_embedding.weight, std=0.01)
        self.unet = models.UNet2DConditionModel(configs.UNET)
        self.ema = {k: v.detach().clone() for k, v in self.ema_source().items()}
        self.vae_opt = torch.optim.Adam(self.vae.parameters(), lr=args.lr, betas=(0.9, 0.99))
        self.unet_opt = torch.optim.AdamW(list(self.unet.parameters()) + list(self.text.parameters()),
                                          lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
        self.vae_step = 0
        self.unet_step = 0
        self.scaling_factor = None
        self.wall = {'vae': 0.0, 'unet': 0.0}
        self.log = []

    def ema_source(self):
        out = {f'unet.{k}': v for k, v in self.unet.state_dict().items()}
        out.update({f'text.{k}': v for k, v in self.text.state_dict().items()})
        return out

    def to_dict(self):
        return {
            'vae': self.vae.state_dict(), 'text': self.text.state_dict(), 'unet': self.unet.state_dict(), 'ema': self.ema,
            'vae_opt': self.vae_opt.state_dict(), 'unet_opt': self.unet_opt.state_dict(),
            'vae_step': self.vae_step, 'unet_step': self.unet_step, 'scaling_factor': self.scaling_factor,
            'wall': self.wall, 'log': self.log, 'torch_rng': torch.get_rng_state(),
        }

    def load(self, d):
        self.vae.load_state_dict(d['vae'])
        self.text.load_state_dict(d['text'])
        self.unet.load_state_dict(d['unet'])
        self.ema = d['ema']
        self.vae_opt.load_state_dict(d['vae_opt'])
        self.unet_opt.load_state_dict(d['unet_opt'])
        self.vae_step, self.unet_step = d['vae_step'], d['unet_step']
        self.scaling_factor, self.wall, self.log = d['scaling_factor'], d['wall'], d['log']
        torch.set_rng_state(d['torch_rng'])


def save_checkpoint(state, work):
    tmp = os.path.join(work, 'checkpoint.pt.tmp')
    torch.save(state.to_dict(), tmp)
    os.replace(tmp, os.path.join(work, 'checkpoint.pt'))


def log_line(state, work, entry):
    state.log.append(entry)
    with open(os.path.join(work, 'log.jsonl'), 'a', encoding='utf-8') as f:
        f.write(json.dumps(entry) + '\n')
    print(json.dumps(entry), flush=True)


# ---------------------------------------------------------------------------------------------------------
# phases

def train_vae(state, args):
    vae = state.vae
    vae.train()
    since = time.time()
    while state.vae_step < args.vae_steps:
        step = state.vae_step
        x, _, rng = frame_batch(args.seed, 1, step, args.vae_batch)
        c = args.vae_crop
        oy, ox = (int(v) for v in rng.integers(0, x.shape[-1] - c + 1, size=2))
        x = x[:, :, oy:oy + c, ox:ox + c]
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.1 if step >= 0.8 * args.vae_steps else 1.0)
        for g in state.vae_opt.param_groups:
            g['lr'] = lr
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if step < args.vae_sample_until else mean
        recon = vae.decode(z)
        mse = F.mse_loss(recon, x)
        kl = 0.5 * torch.mean(mean ** 2 + logvar.exp() - 1.0 - logvar)
        loss = mse + 0.5 * F.l1_loss(recon, x) + 1e-5 * kl
        state.vae_opt.zero_grad(set_to_none=True)
        loss.backward()
        state.vae_opt.step()
        state.vae_step += 1
        if state.vae_step % 5 == 0 or state.vae_step == args.vae_steps:
            now = time.time()
            state.wall['vae'] += now - since
            since = now
            psnr = 10 * math.log10(4.0 / max(mse.item(), 1e-10))
            log_line(state, args.work, {'phase': 'vae', 'step': state.vae_step, 'mse': round(mse.item(), 6),
                                        'psnr_crop_db': round(psnr, 2), 'kl': round(kl.item(), 4), 'wall_s': round(state.wall['vae'], 1)})
        if state.vae_step % args.checkpoint_every == 0:
            save_checkpoint(state, args.work)
    vae.eval()


@torch.no_grad()
def measure_scaling_factor(state, args):
    """1 / std of the latents (posterior means) of 128 training frames, as SD's 0.18215 was chosen."""
    x, _, _ = frame_batch(args.seed, 2, 0, 128)
    mean, _ = state.vae.encode(x)
    return round(1.0 / mean.std().item(), 5)


def snr_weight(t, ac, gamma=5.0):
    """Min-SNR-gamma loss weights for epsilon prediction (Hang et al. 2023): faster convergence per step."""
    snr = ac[t] / (1 - ac[t])
    return torch.clamp(snr, max=gamma) / snr


def train_unet(state, args, tokenizer, deadline):
    ac = alphas_cumprod()
    state.unet.train()
    state.text.train()
    state.vae.eval()
    params = list(state.unet.parameters()) + list(state.text.parameters())
    since = time.time()
    while state.unet_step < args.unet_steps:
        if deadline is not None and time.time() >= deadline:
            print(f'deadline reached at UNet step {state.unet_step}', flush=True)
            break
        step = state.unet_step
        x, ids, _ = frame_batch(args.seed, 3, step, args.unet_batch, tokenizer, drop_caption=0.1)
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        with torch.no_grad():
            latents = state.vae.encode(x)[0] * state.scaling_factor
        noise = torch.randn(latents.shape, generator=g)
        t = torch.randint(0, 1000, (latents.shape[0],), generator=g)
        a = ac[t][:, None, None, None]
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        lr = args.lr * min(1.0, (step + 1) / 100)
        for group in state.unet_opt.param_groups:
            group['lr'] = lr
        pred = state.unet(noisy, t, state.text(ids))
        per_sample = ((pred - noise) ** 2).mean(dim=(1, 2, 3))
        loss = (per_sample * snr_weight(t, ac)).mean()
        state.unet_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        state.unet_opt.step()
        state.unet_step += 1
        decay = min(0.999, (1 + state.unet_step) / (10 + state.unet_step))
        with torch.no_grad():
            for k, v in state.ema_source().items():
                state.ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        if state.unet_step % 5 == 0:
            now = time.time()
            state.wall['unet'] += now - since
            since = now
            log_line(state, args.work, {'phase': 'unet', 'step': state.unet_step, 'loss': round(loss.item(), 5),
                                        'mse': round(per_sample.mean().item(), 5), 'wall_s': round(state.wall['unet'], 1)})
        if state.unet_step % args.checkpoint_every == 0:
            save_checkpoint(state, args.work)
    state.wall['unet'] += time.time() - since


# ---------------------------------------------------------------------------------------------------------
# export

def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(value, f, indent=2)
        f.write('\n')


def ema_state(state, prefix):
    return {k[len(prefix):]: v for k, v in state.ema.items() if k.startswith(prefix)}


def export(state, out):
    """Writes the diffusers folder: EMA weights of UNet and text encoder, the VAE, configs, tokenizer files."""
    if os.path.exists(out):
        shutil.rmtree(out)
    write_json(os.path.join(out, 'model_index.json'), configs.MODEL_INDEX)
    write_json(os.path.join(out, 'scheduler', 'scheduler_config.json'), configs.SCHEDULER)
    vae_cfg = dict(configs.VAE, scaling_factor=state.scaling_factor or 1.0)
    write_json(os.path.join(out, 'vae', 'config.json'), vae_cfg)
    write_json(os.path.join(out, 'unet', 'config.json'), configs.UNET)
    write_json(os.path.join(out, 'text_encoder', 'config.json'), configs.TEXT_ENCODER)
    safetensors_io.save(os.path.join(out, 'vae', 'diffusion_pytorch_model.safetensors'), state.vae.state_dict(), {'format': 'pt'})
    safetensors_io.save(os.path.join(out, 'unet', 'diffusion_pytorch_model.safetensors'), ema_state(state, 'unet.'), {'format': 'pt'})
    text = ema_state(state, 'text.')
    # the 49408 x hidden token table is most of the file; fp16 halves it (the loader widens it to fp32)
    key = 'text_model.embeddings.token_embedding.weight'
    text[key] = text[key].half()
    safetensors_io.save(os.path.join(out, 'text_encoder', 'model.safetensors'), text, {'format': 'pt'})
    tok_src = os.path.join(REPO, 'test', 'fixtures', 'reference', 'tiny-sd', 'tokenizer')
    shutil.copytree(tok_src, os.path.join(out, 'tokenizer'))


def load_exported(out):
    """The three modules with exactly the exported weights (fp16 table widened), for the reference case."""
    def read(component, cls, cfg_name, weights):
        with open(os.path.join(out, component, 'config.json'), encoding='utf-8') as f:
            cfg = json.load(f)
        m = cls(cfg)
        m.load_state_dict(safetensors_io.load(os.path.join(out, component, weights)))
        return m.eval()
    return (read('vae', models.AutoencoderKL, 'VAE', 'diffusion_pytorch_model.safetensors'),
            read('text_encoder', models.CLIPTextModel, 'TEXT_ENCODER', 'model.safetensors'),
            read('unet', models.UNet2DConditionModel, 'UNET', 'diffusion_pytorch_model.safetensors'))


@torch.no_grad()
def write_reference(out, path, tokenizer):
    """Inputs and PyTorch outputs of each exported component, for the TypeScript graphs' parity test."""
    vae, text, unet = load_exported(out)
    params = toy_world.clip_params(1_000_001)
    rgb, _ = toy_world.render_frame(params, 0)
    image = torch.from_numpy(rgb[None]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    captions = [toy_world.caption(params), '']
    ids = torch.tensor([tokenizer.encode_for_model(c) for c in captions], dtype=torch.int64)
    g = torch.Generator().manual_seed(1234)
    sample = torch.randn((2, 4, 16, 16), generator=g)
    timestep = torch.tensor([999, 261], dtype=torch.int64)
    hidden = text(ids)
    mean, logvar = vae.encode(image)
    latent = torch.randn((1, 4, 16, 16), generator=g)
    tensors = {
        'text_encoder.input.input_ids': ids, 'text_encoder.output.last_hidden_state': hidden,
        'unet.input.sample': sample, 'unet.input.timestep': timestep, 'unet.input.encoder_hidden_states': hidden,
        'unet.output.sample': unet(sample, timestep, hidden),
        'vae_encoder.input.sample': image, 'vae_encoder.output.latent_dist_mean': mean,
        'vae_encoder.output.latent_dist_logvar': logvar,
        'vae_decoder.input.latent': latent, 'vae_decoder.output.sample': vae.decode(latent),
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    safetensors_io.save(path, tensors, {'captions': json.dumps(captions), 'clip_seed': params['seed']})


def write_training_record(state, args, out):
    record = {
        'command': write_training_command(state, args),
        'seed': args.seed, 'vae_steps': state.vae_step, 'unet_steps': state.unet_step,
        'vae_batch': args.vae_batch, 'vae_crop': args.vae_crop, 'unet_batch': args.unet_batch, 'lr': args.lr,
        'wall_s': {k: round(v, 1) for k, v in state.wall.items()}, 'scaling_factor': state.scaling_factor,
        'torch': torch.__version__, 'threads': args.threads, 'device': args.device,
        'loss_curve': [e for e in state.log if e['step'] % 50 == 0 or e['phase'] == 'vae' and e['step'] % 25 == 0],
    }
    write_json(os.path.join(out, 'training.json'), record)


def loss_table(log, phase, key, buckets=12):
    """Mean of `key` over equal step windows of a phase: the loss curve as a small table."""
    rows = [e for e in log if e['phase'] == phase]
    if not rows:
        return []
    last = rows[-1]['step']
    width = max(1, math.ceil(last / buckets))
    out = []
    for lo in range(0, last, width):
        window = [e[key] for e in rows if lo < e['step'] <= lo + width]
        if window:
            out.append((lo + 1, min(lo + width, last), sum(window) / len(window), window[-1] if phase else None))
    return out


def write_card(state, args, out):
    """The model card: data, recipe, steps, wall time, machine, loss curve (measured quality is added from the bench)."""
    import platform
    vae_rows = loss_table(state.log, 'vae', 'mse')
    unet_rows = loss_table(state.log, 'unet', 'mse')
    lines = [
        '# Toy model: a small Stable Diffusion 1.x-layout model trained on the toy world',
        '',
        'The embedded default model of this project (`npm start`, the playground, `ocd edit` without `--model`).',
        'Trained from scratch by `trainer/train.py` on frames of the toy world (`gpu-runner/toy-world/world.json`):',
        'one object (circle, square, triangle, star; 8 named colours) moving over a plain, striped, checkered, gradient',
        'or textured background in another colour, captioned from templates ("a red circle moving on a striped blue',
        'background"). It knows nothing else: prompts outside that world give toy-world pictures or noise.',
        '',
        '## Recipe',
        '',
        '- command: `{}`'.format(write_training_command(state, args)),
        '- VAE: AutoencoderKL blocks {} (scale factor {}), {} steps x {} crops of {}x{} px; scaling_factor {}'.format(
            configs.VAE['block_out_channels'], 2 ** (len(configs.VAE['block_out_channels']) - 1), state.vae_step,
            args.vae_batch, args.vae_crop, args.vae_crop, state.scaling_factor),
        '- text encoder: CLIPTextModel hidden {}, {} layers, {} heads, the real CLIP vocabulary (49408 tokens; the token table is stored fp16)'.format(
            configs.TEXT_ENCODER['hidden_size'], configs.TEXT_ENCODER['num_hidden_layers'], configs.TEXT_ENCODER['num_attention_heads']),
        '- UNet: UNet2DConditionModel blocks {}, cross-attention dim {}, 16x16x4 latents (64x64 px); {} steps x batch {} frames, epsilon objective, SD1.5 schedule, min-SNR-5, 10% empty captions, EMA weights exported'.format(
            configs.UNET['block_out_channels'], configs.UNET['cross_attention_dim'], state.unet_step, args.unet_batch),
        '- held out of training: clip seeds >= 1,000,000 and the caption combinations of `world.json` heldOut',
        '- wall time: VAE {:.0f} s, text encoder + UNet {:.0f} s'.format(state.wall['vae'], state.wall['unet']),
        '- machine: {} ({} CPUs visible, shared with other work, run at nice 10), PyTorch {}, {} thread(s), device {}'.format(
            platform.machine(), os.cpu_count(), torch.__version__, args.threads, args.device),
        '',
        '## Loss curve',
        '',
        '| phase | steps | mean MSE in window |',
        '|---|---|---|',
    ]
    lines += ['| VAE reconstruction | {}-{} | {:.4f} |'.format(a, b, m) for a, b, m, _ in vae_rows]
    lines += ['| UNet epsilon | {}-{} | {:.4f} |'.format(a, b, m) for a, b, m, _ in unet_rows]
    lines += ['', 'The full log is `training.json` (`loss_curve`) beside this file.', '']
    with open(os.path.join(out, 'README.md'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))


def write_training_command(state, args):
    return ('python3 trainer/train.py --seed {} --vae-steps {} --vae-sample-until {} --unet-steps {} --vae-batch {} '
            '--unet-batch {} --lr {} --threads {}').format(args.seed, state.vae_step, args.vae_sample_until, state.unet_step,
                                                        args.vae_batch, args.unet_batch, args.lr, args.threads)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    tokenizer = ClipTokenizer()
    state = State(args)
    ckpt = os.path.join(args.work, 'checkpoint.pt')
    if os.path.exists(ckpt):
        state.load(torch.load(ckpt))
        print(f'resumed: vae step {state.vae_step}, unet step {state.unet_step}', flush=True)
    if not args.export_only:
        train_vae(state, args)
        if state.scaling_factor is None:
            state.scaling_factor = measure_scaling_factor(state, args)
            print(f'scaling_factor {state.scaling_factor}', flush=True)
            save_checkpoint(state, args.work)
        deadline = None
        if args.stop_unet_at:
            hh, mm = (int(v) for v in args.stop_unet_at.split(':'))
            now = time.gmtime()
            deadline = time.time() + ((hh * 60 + mm) - (now.tm_hour * 60 + now.tm_min)) * 60 - now.tm_sec
        train_unet(state, args, tokenizer, deadline)
        save_checkpoint(state, args.work)
    export(state, args.out)
    write_training_record(state, args, args.out)
    write_card(state, args, args.out)
    write_reference(args.out, args.reference, tokenizer)
    print(f'exported {args.out}', flush=True)


if __name__ == '__main__':
    main()

"""Plain-PyTorch modules whose state_dict keys are diffusers' (UNet2DConditionModel, AutoencoderKL) and
transformers' (CLIPTextModel) names, so an exported folder loads in our TypeScript loader (and in diffusers)
unchanged. Only the SD1.x features the configs below use are implemented; the math follows those classes
(GroupNorm eps 1e-6 in the VAE and transformer blocks, pre-LN CLIP with a causal mask and quick-GELU,
GEGLU feed-forward, sinusoidal timestep embedding with flip_sin_to_cos)."""
import math

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels, groups, eps):
    return nn.GroupNorm(groups, channels, eps=eps, affine=True)


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, groups, eps, temb=None):
        super().__init__()
        self.norm1 = group_norm(cin, groups, eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb is not None:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = group_norm(cout, groups, eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        skip = self.conv_shortcut(x) if hasattr(self, 'conv_shortcut') else x
        return skip + h


class Attention(nn.Module):
    """diffusers Attention: to_q/to_k/to_v (+bias in the VAE), to_out.0."""

    def __init__(self, dim, context_dim, heads, bias):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(context_dim, dim, bias=bias)
        self.to_v = nn.Linear(context_dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, context=None):
        context = x if context is None else context
        b, n, c = x.shape
        h = self.heads
        q = self.to_q(x).view(b, n, h, c // h).transpose(1, 2)
        k = self.to_k(context).view(b, context.shape[1], h, c // h).transpose(1, 2)
        v = self.to_v(context).view(b, context.shape[1], h, c // h).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // h), dim=-1)
        out = (w @ v).transpose(1, 2).reshape(b, n, c)
        return self.to_out[0](out)


class VAEMidAttention(nn.Module):
    def __init__(self, channels, groups):
        super().__init__()
        self.group_norm = group_norm(channels, groups, 1e-6)
        self.attn = Attention(channels, channels, 1, True)

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.group_norm(x).view(b, c, hh * ww).transpose(1, 2)
        h = self.attn(h).transpose(1, 2).view(b, c, hh, ww)
        return x + h


class VAEMidBlock(nn.Module):
    def __init__(self, channels, groups, temb=None, eps=1e-6, attention=None):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, groups, eps, temb) for _ in range(2)])
        self.attentions = nn.ModuleList([attention or VAEMidAttention(channels, groups)])


class VAEAttnAdapter(nn.Module):
    """Keeps the VAE attention's parameters directly under attentions.0 (group_norm, to_q, ...)."""

    def __init__(self, channels, groups):
        super().__init__()
        self.group_norm = group_norm(channels, groups, 1e-6)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.group_norm(x).view(b, c, hh * ww).transpose(1, 2)
        q, k, v = self.to_q(h), self.to_k(h), self.to_v(h)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c), dim=-1)
        return x + self.to_out[0](w @ v).transpose(1, 2).view(b, c, hh, ww)


class Downsample(nn.Module):
    def __init__(self, channels, vae):
        super().__init__()
        self.vae = vae
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0 if vae else 1)

    def forward(self, x):
        if self.vae:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class Block(nn.Module):
    """A container with diffusers' child names (resnets, attentions, downsamplers, upsamplers)."""


def vae_mid(channels, groups):
    mid = Block()
    mid.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, groups, 1e-6) for _ in range(2)])
    mid.attentions = nn.ModuleList([VAEAttnAdapter(channels, groups)])
    return mid


def run_vae_mid(mid, x):
    return mid.resnets[1](mid.attentions[0](mid.resnets[0](x)))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, g, L = cfg['block_out_channels'], cfg['norm_num_groups'], cfg['layers_per_block']
        self.conv_in = nn.Conv2d(cfg['in_channels'], ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        cin = ch[0]
        for i, cout in enumerate(ch):
            b = Block()
            b.resnets = nn.ModuleList([ResnetBlock2D(cin if j == 0 else cout, cout, g, 1e-6) for j in range(L)])
            if i < len(ch) - 1:
                b.downsamplers = nn.ModuleList([Downsample(cout, True)])
            self.down_blocks.append(b)
            cin = cout
        self.mid_block = vae_mid(ch[-1], g)
        self.conv_norm_out = group_norm(ch[-1], g, 1e-6)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg['latent_channels'], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for b in self.down_blocks:
            for r in b.resnets:
                x = r(x)
            if hasattr(b, 'downsamplers'):
                x = b.downsamplers[0](x)
        x = run_vae_mid(self.mid_block, x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, g, L = cfg['block_out_channels'], cfg['norm_num_groups'], cfg['layers_per_block']
        rev = list(reversed(ch))
        self.conv_in = nn.Conv2d(cfg['latent_channels'], rev[0], 3, padding=1)
        self.mid_block = vae_mid(rev[0], g)
        self.up_blocks = nn.ModuleList()
        cin = rev[0]
        for i, cout in enumerate(rev):
            b = Block()
            b.resnets = nn.ModuleList([ResnetBlock2D(cin if j == 0 else cout, cout, g, 1e-6) for j in range(L + 1)])
            if i < len(rev) - 1:
                b.upsamplers = nn.ModuleList([Upsample(cout)])
            self.up_blocks.append(b)
            cin = cout
        self.conv_norm_out = group_norm(rev[-1], g, 1e-6)
        self.conv_out = nn.Conv2d(rev[-1], cfg['out_channels'], 3, padding=1)

    def forward(self, z):
        x = run_vae_mid(self.mid_block, self.conv_in(z))
        for b in self.up_blocks:
            for r in b.resnets:
                x = r(x)
            if hasattr(b, 'upsamplers'):
                x = b.upsamplers[0](x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        L = cfg['latent_channels']
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv2d(2 * L, 2 * L, 1)
        self.post_quant_conv = nn.Conv2d(L, L, 1)

    def encode(self, x):
        """(mean, logvar) of the posterior, logvar clamped as diffusers does."""
        moments = self.quant_conv(self.encoder(x))
        mean, logvar = moments.chunk(2, dim=1)
        return mean, torch.clamp(logvar, -30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ---------------------------------------------------------------------------------------------------------
# CLIP text encoder (transformers CLIPTextModel: keys under text_model.)

class CLIPAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, mask):
        b, n, c = x.shape
        h = self.heads
        q, k, v = (p(x).view(b, n, h, c // h).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // h) + mask, dim=-1)
        return self.out_proj((w @ v).transpose(1, 2).reshape(b, n, c))


class CLIPLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg['hidden_size']
        self.self_attn = CLIPAttention(d, cfg['num_attention_heads'])
        self.layer_norm1 = nn.LayerNorm(d, eps=cfg['layer_norm_eps'])
        self.mlp = Block()
        self.mlp.fc1 = nn.Linear(d, cfg['intermediate_size'])
        self.mlp.fc2 = nn.Linear(cfg['intermediate_size'], d)
        self.layer_norm2 = nn.LayerNorm(d, eps=cfg['layer_norm_eps'])

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        h = self.mlp.fc1(self.layer_norm2(x))
        h = h * torch.sigmoid(1.702 * h)
        return x + self.mlp.fc2(h)


class CLIPTextTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg['hidden_size']
        self.embeddings = Block()
        self.embeddings.token_embedding = nn.Embedding(cfg['vocab_size'], d)
        self.embeddings.position_embedding = nn.Embedding(cfg['max_position_embeddings'], d)
        self.encoder = Block()
        self.encoder.layers = nn.ModuleList([CLIPLayer(cfg) for _ in range(cfg['num_hidden_layers'])])
        self.final_layer_norm = nn.LayerNorm(d, eps=cfg['layer_norm_eps'])

    def forward(self, ids):
        n = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding.weight[:n][None]
        mask = torch.full((n, n), float('-inf')).triu(1)
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)


class CLIPTextModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.text_model = CLIPTextTransformer(cfg)

    def forward(self, ids):
        return self.text_model(ids)


# ---------------------------------------------------------------------------------------------------------
# UNet2DConditionModel

class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, dim, heads, False)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, context_dim, heads, False)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = Block()
        geglu = Block()
        geglu.proj = nn.Linear(dim, dim * 8)
        self.ff.net = nn.ModuleList([geglu, nn.Dropout(0.0), nn.Linear(dim * 4, dim)])

    def forward(self, x, context):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        h, gate = self.ff.net[0].proj(self.norm3(x)).chunk(2, dim=-1)
        return x + self.ff.net[2](h * F.gelu(gate))


class Transformer2DModel(nn.Module):
    def __init__(self, channels, context_dim, heads, groups):
        super().__init__()
        self.norm = group_norm(channels, groups, 1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(channels, context_dim, heads)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).view(b, c, hh * ww).transpose(1, 2)
        for blk in self.transformer_blocks:
            h = blk(h, context)
        return x + self.proj_out(h.transpose(1, 2).reshape(b, c, hh, ww))


def timestep_embedding(t, dim):
    """diffusers get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        ch, L, g, eps = cfg['block_out_channels'], cfg['layers_per_block'], cfg['norm_num_groups'], cfg['norm_eps']
        heads, ctx = cfg['attention_head_dim'], cfg['cross_attention_dim']
        heads = [heads] * len(ch) if isinstance(heads, int) else heads
        temb = ch[0] * 4
        self.conv_in = nn.Conv2d(cfg['in_channels'], ch[0], 3, padding=1)
        self.time_embedding = Block()
        self.time_embedding.linear_1 = nn.Linear(ch[0], temb)
        self.time_embedding.linear_2 = nn.Linear(temb, temb)
        self.down_blocks = nn.ModuleList()
        cin = ch[0]
        for i, cout in enumerate(ch):
            b = Block()
            b.resnets = nn.ModuleList([ResnetBlock2D(cin if j == 0 else cout, cout, g, eps, temb) for j in range(L)])
            if cfg['down_block_types'][i] == 'CrossAttnDownBlock2D':
                b.attentions = nn.ModuleList([Transformer2DModel(cout, ctx, heads[i], g) for _ in range(L)])
            if i < len(ch) - 1:
                b.downsamplers = nn.ModuleList([Downsample(cout, False)])
            self.down_blocks.append(b)
            cin = cout
        self.mid_block = Block()
        self.mid_block.resnets = nn.ModuleList([ResnetBlock2D(ch[-1], ch[-1], g, eps, temb) for _ in range(2)])
        self.mid_block.attentions = nn.ModuleList([Transformer2DModel(ch[-1], ctx, heads[-1], g)])
        self.up_blocks = nn.ModuleList()
        rev, rheads = list(reversed(ch)), list(reversed(heads))
        prev = rev[0]
        for i, cout in enumerate(rev):
            skip_in = rev[min(i + 1, len(ch) - 1)]
            b = Block()
            b.resnets = nn.ModuleList([
                ResnetBlock2D((prev if j == 0 else cout) + (skip_in if j == L else cout), cout, g, eps, temb)
                for j in range(L + 1)])
            if cfg['up_block_types'][i] == 'CrossAttnUpBlock2D':
                b.attentions = nn.ModuleList([Transformer2DModel(cout, ctx, rheads[i], g) for _ in range(L + 1)])
            if i < len(ch) - 1:
                b.upsamplers = nn.ModuleList([Upsample(cout)])
            self.up_blocks.append(b)
            prev = cout
        self.conv_norm_out = group_norm(ch[0], g, eps)
        self.conv_out = nn.Conv2d(ch[0], cfg['out_channels'], 3, padding=1)

    def forward(self, x, t, context):
        if t.dim() == 0:
            t = t[None].expand(x.shape[0])
        emb = timestep_embedding(t, self.cfg['block_out_channels'][0])
        emb = self.time_embedding.linear_2(F.silu(self.time_embedding.linear_1(emb)))
        x = self.conv_in(x)
        skips = [x]
        for b in self.down_blocks:
            for j, r in enumerate(b.resnets):
                x = r(x, emb)
                if hasattr(b, 'attentions'):
                    x = b.attentions[j](x, context)
                skips.append(x)
            if hasattr(b, 'downsamplers'):
                x = b.downsamplers[0](x)
                skips.append(x)
        m = self.mid_block
        x = m.resnets[1](m.attentions[0](m.resnets[0](x, emb), context), emb)
        for b in self.up_blocks:
            for j, r in enumerate(b.resnets):
                x = r(torch.cat([x, skips.pop()], dim=1), emb)
                if hasattr(b, 'attentions'):
                    x = b.attentions[j](x, context)
            if hasattr(b, 'upsamplers'):
                x = b.upsamplers[0](x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))

"""The toy world's Python renderer: the twin of gpu-runner/toy-world (TypeScript).

Both read gpu-runner/toy-world/world.json and use only integer arithmetic (floor division, a 32-bit
mulberry32 generator), so they produce identical bytes; test/gpu-runner/toy-world checks that on golden
frames this module wrote (`python3 trainer/toy_world.py --golden <dir>`).
"""
import json
import os
import sys

import numpy as np

WORLD_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'gpu-runner', 'toy-world', 'world.json')
with open(WORLD_PATH, encoding='utf-8') as f:
    WORLD = json.load(f)

COLOURS = list(WORLD['colours'].keys())
SHAPES = list(WORLD['shapes'].keys())
PATTERNS = list(WORLD['patterns'].keys())
MASK32 = 0xFFFFFFFF


class Mulberry32:
    """mulberry32, in uint32 arithmetic (same sequence as the TypeScript twin)."""

    def __init__(self, seed):
        self.state = seed & MASK32

    def next(self):
        self.state = (self.state + 0x6D2B79F5) & MASK32
        a = self.state
        t = ((a ^ (a >> 15)) * (1 | a)) & MASK32
        t = ((t + (((t ^ (t >> 7)) * (61 | t)) & MASK32)) & MASK32) ^ t
        return (t ^ (t >> 14)) & MASK32

    def int(self, n):
        return self.next() % n


def combo_held_out(shape, colour, pattern, background):
    """Whether the (shape, colour, pattern, background) combination is kept out of training."""
    h = WORLD['heldOut']
    return (shape + 3 * colour + 5 * pattern + 7 * background) % h['comboModulus'] == 0


def clip_params(seed, size=None, frames=None):
    """The clip of `seed`: attribute indices and motion, in 1/(2*subpixels) pixel units."""
    size = size or WORLD['size']
    frames = frames or WORLD['frames']
    unit = 2 * WORLD['subpixels']
    rng = Mulberry32(seed)
    shape = rng.int(len(SHAPES))
    colour = rng.int(len(COLOURS))
    pattern = rng.int(len(PATTERNS))
    background = (colour + 1 + rng.int(len(COLOURS) - 1)) % len(COLOURS)
    orientation = rng.int(2)
    lo, hi = WORLD['radiusPercent']
    radius = size * unit * (lo + rng.int(hi - lo + 1)) // 100
    g = WORLD['textureGrid']
    texture = [rng.int(256) for _ in range((g + 1) * (g + 1))]
    margin = size * unit * WORLD['marginPercent'] // 100
    span = size * unit - 2 * (radius + margin)
    travel = size * unit * WORLD['minTravelPercent'] // 100
    for _ in range(64):
        x0, y0, x1, y1 = (radius + margin + rng.int(span + 1) for _ in range(4))
        if abs(x1 - x0) + abs(y1 - y0) >= travel:
            break
    return {
        'seed': seed, 'size': size, 'frames': frames, 'shape': shape, 'colour': colour, 'pattern': pattern,
        'background': background, 'orientation': orientation, 'radius': radius, 'texture': texture,
        'start': [x0, y0], 'end': [x1, y1],
    }


def caption(params, template=0):
    t = WORLD['captionTemplates'][template]
    return (t.replace('{colour}', COLOURS[params['colour']]).replace('{shape}', SHAPES[params['shape']])
            .replace('{pattern}', WORLD['patterns'][PATTERNS[params['pattern']]])
            .replace('{background}', COLOURS[params['background']]))


def shade(rgb):
    """The background's second colour: its colour pulled towards mid grey."""
    return [(c * 5 + 128 * 3) // 8 for c in rgb]


def render_background(params):
    size = params['size']
    c = np.array(WORLD['colours'][COLOURS[params['background']]], dtype=np.int64)
    d = np.array(shade(c.tolist()), dtype=np.int64)
    y, x = np.mgrid[0:size, 0:size].astype(np.int64)
    kind = PATTERNS[params['pattern']]
    period = WORLD['patternPeriod'] * size // 64
    v = y if params['orientation'] == 0 else x
    if kind == 'plain':
        t = np.zeros((size, size), dtype=np.int64)
    elif kind == 'stripes':
        t = ((v // (period // 2)) % 2) * 255
    elif kind == 'checker':
        t = (((x // (period // 2)) + (y // (period // 2))) % 2) * 255
    elif kind == 'gradient':
        t = v * 255 // (size - 1)
    else:
        g = WORLD['textureGrid']
        grid = np.array(params['texture'], dtype=np.int64).reshape(g + 1, g + 1)
        gx, gy = x * g, y * g
        i, fx = gx // size, gx % size
        j, fy = gy // size, gy % size
        t = (grid[j, i] * (size - fx) * (size - fy) + grid[j, i + 1] * fx * (size - fy)
             + grid[j + 1, i] * (size - fx) * fy + grid[j + 1, i + 1] * fx * fy) // (size * size)
    return c[None, None, :] + ((d - c)[None, None, :] * t[:, :, None]) // 255


def centre(params, frame):
    (x0, y0), (x1, y1) = params['start'], params['end']
    n = max(params['frames'] - 1, 1)
    return x0 + (x1 - x0) * frame // n, y0 + (y1 - y0) * frame // n


def coverage(params, frame):
    """Samples (of subpixels^2) per pixel inside the object."""
    size, s = params['size'], WORLD['subpixels']
    unit = 2 * s
    cx, cy = centre(params, frame)
    r = params['radius']
    p = np.arange(size * s, dtype=np.int64)
    coords = (p // s) * unit + 2 * (p % s) + 1
    Y, X = np.meshgrid(coords, coords, indexing='ij')
    spec = WORLD['shapes'][SHAPES[params['shape']]]
    if spec['kind'] == 'circle':
        rr = r * spec['scale'] // 1000
        inside = (X - cx) ** 2 + (Y - cy) ** 2 <= rr * rr
    else:
        vs = [(cx + vx * r // 1000, cy + vy * r // 1000) for vx, vy in spec['vertices']]
        inside = np.zeros(X.shape, dtype=bool)
        for k in range(len(vs)):
            (xa, ya), (xb, yb) = vs[k], vs[(k + 1) % len(vs)]
            den = yb - ya
            if den == 0:
                continue
            crosses = (ya > Y) != (yb > Y)
            lhs = (X - xa) * den
            rhs = (Y - ya) * (xb - xa)
            left = lhs < rhs if den > 0 else lhs > rhs
            inside ^= crosses & left
    return inside.reshape(size, s, size, s).sum(axis=(1, 3)).astype(np.int64)


def render_frame(params, frame):
    """(rgb uint8 [size, size, 3], mask uint8 [size, size] of 0/1)."""
    s2 = WORLD['subpixels'] ** 2
    bg = render_background(params)
    cov = coverage(params, frame)[:, :, None]
    obj = np.array(WORLD['colours'][COLOURS[params['colour']]], dtype=np.int64)[None, None, :]
    rgb = (bg * (s2 - cov) + obj * cov) // s2
    mask = (cov[:, :, 0] * 2 >= s2).astype(np.uint8)
    return rgb.astype(np.uint8), mask


def render_clip(params):
    out = [render_frame(params, f) for f in range(params['frames'])]
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def write_golden(directory):
    """Golden frames for the parity test: a few seeds x frames, raw RGB + mask bytes and a JSON index."""
    os.makedirs(directory, exist_ok=True)
    index = []
    for seed in [0, 1, 2, 3, 4, 5, 6, 7, 1000003]:
        params = clip_params(seed)
        rgb, mask = render_clip(params)
        name = f'seed-{seed}'
        with open(os.path.join(directory, name + '.rgb'), 'wb') as f:
            f.write(rgb[[0, params['frames'] - 1]].tobytes())
        with open(os.path.join(directory, name + '.mask'), 'wb') as f:
            f.write(mask[[0, params['frames'] - 1]].tobytes())
        index.append({'seed': seed, 'frames': [0, params['frames'] - 1], 'caption': caption(params),
                      'params': params, 'file': name})
    with open(os.path.join(directory, 'index.json'), 'w', encoding='utf-8') as f:
        json.dump(index, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--golden':
        write_golden(sys.argv[2])
    else:
        print('usage: python3 trainer/toy_world.py --golden <dir>', file=sys.stderr)
        sys.exit(2)

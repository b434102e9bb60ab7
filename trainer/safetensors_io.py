"""Reading and writing safetensors files without the safetensors package: an 8-byte little-endian header
length, a JSON header (dtype, shape, data_offsets per tensor), then the raw little-endian data."""
import json
import struct

import numpy as np
import torch

DTYPES = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64}
NAMES = {np.dtype(np.float32): 'F32', np.dtype(np.float16): 'F16', np.dtype(np.int64): 'I64'}


def save(path, tensors, metadata=None):
    """Writes {name: numpy array or torch tensor} sorted by name (as torch's writer lays files out)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        a = np.ascontiguousarray(a)
        data = a.astype(a.dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': NAMES[a.dtype], 'shape': list(a.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load(path):
    """{name: float32/int64 torch tensor} (F16 widened to float32)."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        start, end = info['data_offsets']
        a = np.frombuffer(data[start:end], dtype=np.dtype(DTYPES[info['dtype']]).newbyteorder('<')).reshape(info['shape'])
        a = a.astype(np.float32) if info['dtype'] == 'F16' else a.astype(a.dtype.newbyteorder('='))
        out[name] = torch.from_numpy(a.copy())
    return out

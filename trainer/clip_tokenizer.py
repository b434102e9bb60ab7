"""OpenAI's CLIP BPE tokenizer for the toy world's captions (lower-case ASCII words), read from the real
vocabulary assets/clip/bpe_simple_vocab_16e6.txt.gz. It pads to 77 ids with <|endoftext|> as SD1.x does;
the reference case the trainer writes records these ids, and a TypeScript test checks our tokenizer
gives the same ones."""
import gzip
import os
import re

VOCAB_GZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'assets', 'clip', 'bpe_simple_vocab_16e6.txt.gz')
# CLIP's pattern restricted to ASCII: the captions hold no other letters or digits.
PATTERN = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ClipTokenizer:
    def __init__(self, path=VOCAB_GZ):
        merges = gzip.open(path).read().decode('utf-8').split('\n')[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        self.byte_encoder = bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + '</w>' for v in vocab] + [''.join(m) for m in merges] + ['<|startoftext|>', '<|endoftext|>']
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.bos, self.eos = self.encoder['<|startoftext|>'], self.encoder['<|endoftext|>']
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + '</w>']
        while len(word) > 1:
            pairs = [(word[i], word[i + 1]) for i in range(len(word) - 1)]
            best = min(pairs, key=lambda p: self.ranks.get(p, float('inf')))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        self.cache[token] = word
        return word

    def encode(self, text):
        text = ' '.join(text.strip().lower().split())
        ids = []
        for token in PATTERN.findall(text):
            token = ''.join(self.byte_encoder[b] for b in token.encode('utf-8'))
            ids.extend(self.encoder[t] for t in self.bpe(token))
        return ids

    def encode_for_model(self, text, length=77):
        ids = [self.bos] + self.encode(text)[:length - 2] + [self.eos]
        return ids + [self.eos] * (length - len(ids))

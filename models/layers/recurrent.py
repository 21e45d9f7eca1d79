"""Recurrent autoencoder for irregularly sampled curves (Naul et al. 2018), as Tsang & Schultz 2019 use it.

Encoder: stacked (bidirectional) GRU or LSTM layers read each band's folded observations in phase order, one step
per observation with its (phase, mag, err); the last layer's final states become the code through a linear layer.
Decoder: the code is repeated at every observation and joined with that observation's phase (Naul et al. feed the
sampling times to the decoder, so it reconstructs at the observed, irregular times) and the band's one-hot; stacked
recurrent layers and a linear output give the magnitude. Padded slots are left out (packed sequences for the curves
that do not fill their slots, :func:`run_padded`), so the number of padding slots never changes an output (a
backward pass would otherwise start in the padding).

Shapes: N objects, B bands, L slots per band (observations first, then padding: :func:`models.preprocessing.folding.
pad_batch`), H hidden units, C code units.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Cell = Literal["gru", "lstm"]
_CELLS: dict[str, type[nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM}


def _stack(cell: Cell, in_dim: int, hidden: int, layers: int, bidirectional: bool, dropout: float) -> nn.RNNBase:
    if cell not in _CELLS:
        raise ValueError(f"unknown recurrent cell {cell!r}; use 'gru' or 'lstm'")
    return _CELLS[cell](in_dim, hidden, layers, batch_first=True, bidirectional=bidirectional,
                        dropout=dropout if layers > 1 else 0.0)


def _packed(x: torch.Tensor, lengths: torch.Tensor) -> nn.utils.rnn.PackedSequence:
    """(S, L, D) sequences with their lengths; an empty sequence (a band a curve lacks) runs one zero step."""
    return pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)


def _state(state: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def run_padded(rnn: nn.RNNBase, x: torch.Tensor,
               lengths: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Outputs (S, L, directions x H), zero in padding, and final states ((layers x directions, S, H), one tensor for
    a GRU, (h, c) for an LSTM) of ``rnn`` over right-padded sequences, as if each ran alone.

    Sequences that fill all L slots run unpacked, the rest packed: the packed path steps through time outside the
    fused kernel, several times slower on a CPU, and most folded curves fill their slots (``max_points``).
    """
    full = lengths == x.shape[1]
    if bool(full.all()):
        out, state = rnn(x)
        return out, _state(state)
    packed_out, packed_state = rnn(_packed(x[~full], lengths[~full]))
    rest, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
    if not bool(full.any()):
        return rest, _state(packed_state)
    full_out, full_state = rnn(x[full])
    out = rest.new_zeros(len(x), *rest.shape[1:])
    out[full], out[~full] = full_out, rest
    states = []
    for whole, part in zip(_state(full_state), _state(packed_state), strict=True):
        merged = part.new_zeros(part.shape[0], len(x), part.shape[2])
        merged[:, full], merged[:, ~full] = whole, part
        states.append(merged)
    return out, tuple(states)


class RecurrentEncoder(nn.Module):
    """(phase, mag, err) per observation of every band -> code (N, C); the bands share the recurrent layers."""

    def __init__(self, n_bands: int, hidden: int, layers: int, code_dim: int, cell: Cell = "gru",
                 bidirectional: bool = True, dropout: float = 0.0):
        super().__init__()
        self.rnn = _stack(cell, 3, hidden, layers, bidirectional, dropout)
        self.directions = 2 if bidirectional else 1
        self.code = nn.Linear(n_bands * self.directions * hidden, code_dim)

    def forward(self, phase: torch.Tensor, mag: torch.Tensor, err: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """phase, mag, err, mask (N, B, L) -> code (N, C)."""
        n, b, slots = phase.shape
        x = torch.stack([phase, mag, err], dim=-1).reshape(n * b, slots, 3)
        lengths = mask.reshape(n * b, slots).sum(1)
        _, (h, *_) = run_padded(self.rnn, x, lengths)  # an LSTM's c is not part of the code
        last = h[-self.directions:].transpose(0, 1).reshape(n * b, -1)  # last layer, both directions
        last = last * (lengths > 0)[:, None].to(last.dtype)  # an absent band contributes zeros
        return self.code(last.reshape(n, -1))


class RecurrentDecoder(nn.Module):
    """code (N, C) and the observed phases (N, B, L) -> reconstructed magnitudes (N, B, L) (zero in padding)."""

    def __init__(self, n_bands: int, code_dim: int, hidden: int, layers: int, cell: Cell = "gru",
                 bidirectional: bool = True, dropout: float = 0.0):
        super().__init__()
        self.n_bands = n_bands
        self.rnn = _stack(cell, code_dim + 1 + n_bands, hidden, layers, bidirectional, dropout)
        self.out = nn.Linear((2 if bidirectional else 1) * hidden, 1)

    def forward(self, code: torch.Tensor, phase: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, b, slots = phase.shape
        band = F.one_hot(torch.arange(b, device=phase.device), self.n_bands).to(code.dtype)  # (B, B)
        x = torch.cat([code[:, None, None, :].expand(n, b, slots, -1), phase[..., None],
                       band[None, :, None, :].expand(n, b, slots, -1)], dim=-1).reshape(n * b, slots, -1)
        lengths = mask.reshape(n * b, slots).sum(1)
        h, _ = run_padded(self.rnn, x, lengths)
        return self.out(h).reshape(n, b, slots) * mask.to(h.dtype)

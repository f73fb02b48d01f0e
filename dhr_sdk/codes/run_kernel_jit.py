"""The compiled loop of :mod:`dhr_sdk.codes.run_kernel` (imports numba: import this module
only when the kernel runs)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

_ZERO = np.uint64(0)


def _ctpop(typingctx: Any, x: Any) -> Any:
    """LLVM's ``ctpop`` on a uint64 (one POPCNT instruction where the CPU has it)."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


_popcount: Any = intrinsic(_ctpop)  # called from compiled code as _popcount(x)


@numba.njit(cache=True, nogil=True)
def pairs_in_runs(words: Any, rows_from: Any, rows_to: Any, ends: Any, radius: int,
                  masks: Any, block: int, check_own: bool, out_p: Any, out_q: Any,
                  out_d: Any) -> int:
    """Write the pairs ``p < q < ends[s]``, ``rows_from[s] <= p < rows_to[s]``, within
    ``radius`` and first agreeing on ``block`` (``check_own``: the pair must be seen to agree
    on ``block`` itself, for hashed keys) to ``out_*``; returns how many."""
    n_words = words.shape[1]
    first_words = np.ascontiguousarray(words[:, 0])
    limit = np.uint64(radius)  # unsigned, as the popcounts: no conversion in the compare
    k = 0
    for s in range(rows_from.shape[0]):
        end = np.uint64(ends[s])
        for p in range(rows_from[s], rows_to[s]):
            x0 = first_words[p]
            for q in range(np.uint64(p + 1), end):  # unsigned: no negative-index check
                d = _popcount(x0 ^ first_words[q])  # most pairs end here: the first word
                if d > limit:
                    continue
                for w in range(1, n_words):
                    d += _popcount(words[p, w] ^ words[q, w])
                if d > limit:
                    continue
                first = -1 if check_own else block
                for b in range(block + 1):
                    agree = True
                    for w in range(n_words):
                        if (words[p, w] ^ words[q, w]) & masks[b, w] != _ZERO:
                            agree = False
                            break
                    if agree:
                        first = b
                        break
                if first != block:
                    continue
                out_p[k] = p
                out_q[k] = q
                out_d[k] = d
                k += 1
    return k

"""Out-of-sample encoding: a new image joins a stored anchor graph (LAGNH, Eq. 1–7, 13).

The paper encodes a query by forward propagation through the GCN, which needs the query's
graph neighbours and its auxiliary semantics. Our choice (documented in ``docs/hashers/
lagnh.md``): keep ``m`` training images as *anchors* (a seeded random sample, ``m`` = the
training batch size, so the graph a query sees matches the graphs seen in training).
For each query ``q`` independently:

1. Eq. (1)–(2): attention over the anchors' tag embeddings ``ȳ_j`` gives ``x_q^att``
   (the query's own tags are not needed here, as in training).
2. The query's tags ``ŷ_q``: exact pseudo-tags (``pseudo`` source, the stored k-means
   centres), or, for user tags and visual words, the mean tags of its
   ``query_tag_neighbours`` anchors of highest visual similarity ``S^v`` (tag propagation;
   such tags of new images are unknown). With ``pseudo+visual-words`` the pseudo-tag
   columns are exact and the word columns propagated.
3. Eq. (3)–(5): the query's graph row ``S_qj = mu S^v_qj + ŷ_q^T y_j`` and self-loop
   ``S_qq = mu + ŷ_q^T ŷ_q``; normalised with ``D`` of the anchors + query graph.
4. Eq. (6)–(7): the query's two GCN layers aggregate from the anchors; the anchors'
   layer-1 outputs are those of the anchor graph alone (the query's effect on its
   neighbours is neglected, as in inductive GCN inference), so each query's code depends
   only on the query and the stored anchors — never on the rest of the batch.
5. Eq. (13): ``b_q = sgn(z_q)``.
"""

from __future__ import annotations

import numpy as np
import torch

from dhr_plugins.hashers.lagnh.net import (
    LagnhNet,
    attend,
    augmented_graph,
    aux_similarity,
    keep_nearest,
    normalise_graph,
    tag_rows,
    visual_similarity,
)

CHUNK = 2048


class AnchorGraph:
    """Precomputed anchor side of the inference graph for a trained :class:`LagnhNet`."""

    def __init__(self, net: LagnhNet, anchors_x: np.ndarray, anchors_y: np.ndarray,
                 mu: float, sigma: float, normalise_tags: bool,
                 neighbours: int | None) -> None:
        self.net, self.mu, self.sigma, self.normalise = net, mu, sigma, normalise_tags
        self.neighbours = neighbours
        with torch.no_grad():
            self.y = torch.from_numpy(anchors_y)
            x_bar, self.y_bar = net.encoder(torch.from_numpy(anchors_x), self.y)
            self.x_att, _ = attend(x_bar, self.y_bar)
            self.y_sim = tag_rows(self.y, normalise_tags)
            s_v = keep_nearest(visual_similarity(self.x_att, self.x_att, sigma), neighbours,
                               square=True)
            s = augmented_graph(s_v, aux_similarity(self.y_sim, self.y_sim), mu)
            self.degree = s.sum(dim=1)
            z1 = net.gcn.layer1(normalise_graph(s), self.x_att)
            self.h1 = net.gcn.gc1(self.x_att)   # anchors' X^att W1
            self.h2 = net.gcn.gc2(z1)           # anchors' Z1 W2

    def query_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (1)–(2) for queries against the anchors' tag embeddings."""
        x_att, _ = attend(self.net.encoder.img(x), self.y_bar)
        return x_att

    def propagated_tags(self, s_v: torch.Tensor, k: int) -> torch.Tensor:
        """Mean tags of each query's ``k`` most visually similar anchors."""
        k = max(1, min(k, self.y.shape[0]))
        idx = torch.topk(s_v, k, dim=1).indices
        return self.y[idx].mean(dim=1)

    def encode(self, x: torch.Tensor, y_query: torch.Tensor | None,
               tag_neighbours: int) -> torch.Tensor:
        """Continuous codes ``z_q`` of queries ``x``.

        ``y_query`` holds the queries' known tags: all columns, or the leading ones (the
        remaining columns are propagated from the anchors), or None (all propagated).
        """
        with torch.no_grad():
            x_att = self.query_attention(x)
            s_v = visual_similarity(x_att, self.x_att, self.sigma)
            if y_query is not None and y_query.shape[1] == self.y.shape[1]:
                y_q = y_query
            else:
                y_q = self.propagated_tags(s_v, tag_neighbours)
                if y_query is not None:
                    y_q = torch.cat([y_query, y_q[:, y_query.shape[1]:]], dim=1)
            y_q = tag_rows(y_q, self.normalise)
            s_v = keep_nearest(s_v, self.neighbours, square=False)
            s_qa = augmented_graph(s_v, aux_similarity(y_q, self.y_sim), self.mu)
            s_qq = self.mu + (y_q * y_q).sum(dim=1)
            d_q = s_qq + s_qa.sum(dim=1)
            d_a = self.degree[None, :] + s_qa      # anchor degrees with the query's edge
            w_qa = s_qa / torch.sqrt(d_q[:, None] * d_a)
            w_qq = (s_qq / d_q)[:, None]
            z1 = torch.relu(w_qa @ self.h1 + w_qq * self.net.gcn.gc1(x_att))   # Eq. (6)
            return w_qa @ self.h2 + w_qq * self.net.gcn.gc2(z1)                 # Eq. (7)

    def encode_chunked(self, x: np.ndarray, y_query: np.ndarray | None,
                       tag_neighbours: int) -> np.ndarray:
        """:meth:`encode` over chunks of rows (memory bound); float32 (n, r)."""
        out = []
        for start in range(0, x.shape[0], CHUNK):
            xs = torch.from_numpy(x[start:start + CHUNK])
            ys = None if y_query is None else torch.from_numpy(y_query[start:start + CHUNK])
            out.append(self.encode(xs, ys, tag_neighbours).numpy())
        return np.concatenate(out, axis=0)

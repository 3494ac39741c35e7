"""Cluster tree (Fig. 4(b)/(c)): the hierarchical k-means tree over one glimpse step's keys.

The tree (the engine's k-means tree with the session's weights) is built once per model, weights, step,
branching and leaf size, in a short-lived child process (``mbi.runs.treecache``: the server keeps only the
tree's shape and its answers, not the tree, nor scikit-learn); the queries are the real lookups of test
images at that step (a cached exact trace), answered for every ``checks`` at once, so ``checks``, the view,
the depth, the clicked node and fewer test images only redraw (the search-quality part is a fragment: its
controls rerun only that part; more images than the kept answers cover are searched anew).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mbi import plots
from mbi.config import TreeConfig
from mbi.memory.decode import central_keys, decode_key, location_counts, mean_key, subtree_rows
from mbi.runs.treecache import TreeView, tree_view
from mbi.search.searchers import SearchResult, compare_with_reference
from mbi.urlstate import Param
from dashboard import furniture, lookups, models, session_weights, urlsync

PAGE = "tree"
IMAGE_CHOICES = (100, 300, 1000, 10000)
LEAF_CHOICES = (8, 16, 32, 64, 128, 256)
CHECK_CHOICES = (1, 2, 4, 8, 16, 32)
VIEWS = {"icicle": "Icicle", "sunburst": "Sunburst", "treemap": "Treemap"}
NAMES = {"step", "branching", "leaf", "checks", "view", "depth", "node", "images"}
TOP_KEYS = 4

furniture.intro(
    "Cluster tree",
    "Scanning every key for every query is what a lookup costs in software. A hierarchical **k-means tree** "
    "splits one glimpse step's keys into `branching` clusters, again and again, until a node holds at most "
    "`leaf size` keys; a query walks down to the nearest centroid and scans only the leaves it reaches "
    "(`checks` of them). Click a node to see what its keys look like.",
    "Fig. 4(b) (the tree) and Fig. 4(c) (distance error of the tree vs brute force)",
)

cfg, data = models.facts_or_stop()
table = lookups.table_or_stop()
weights = session_weights.current_weights()
steps = table.num_glimpses
BASE = [
    Param("step", min(2, steps), "int", lo=1, hi=steps, label="glimpse step"),
    Param("branching", 4, "int", lo=2, hi=16, label="branching"),
    Param("leaf", 32, "choice", choices=LEAF_CHOICES, label="leaf size"),
]
IMAGES = Param("images", 10000, "choice", choices=IMAGE_CHOICES, label="test images")
first = urlsync.peek(PAGE, BASE + [IMAGES], NAMES)
t = int(first["step"]) - 1
rows_t = table.rows_of_step(t)
keys_t = table.keys_of_step(t)

settings = TreeConfig(branching=int(first["branching"]), leaf_size=int(first["leaf"]))
tree_id = (models.current_model_key(), len(table), weights, t, settings)


def tree_for(count: int) -> TreeView:
    """The tree's view with its answers to (at least) the first ``count`` test images' queries at this step:
    the kept one when it covers them, else built and searched in a child process (``mbi.runs.treecache``)."""
    trees = lookups.memo("kmeans_tree", 4)
    kept = trees.get(tree_id)
    if kept is not None and kept.n_queries >= count:
        return kept
    trace = lookups.lookup_trace(table, "test", count, weights, "brute")
    building = (f"Building the k-means tree over the {len(rows_t):,} keys of glimpse {t + 1} (branching "
                f"{settings.branching}, leaves of at most {settings.leaf_size} keys) and searching it with "
                f"{count:,} queries ...")
    with lookups.fresh_work("search index"), st.status(building) as status:
        try:
            view = tree_view(keys_t, table.layout, weights, settings, trace.queries[:, t], CHECK_CHOICES)
        except furniture.USER_ERRORS as exc:
            status.update(label="The tree could not be built", state="error")
            st.error(furniture.friendly(exc))
            st.stop()
        status.update(label=f"Built: {view.n_nodes:,} nodes, height {view.height}", state="complete")
    return trees.put(tree_id, view)


tree = tree_for(int(first["images"]))
summary = tree.summary

PARAMS = BASE + [
    Param("checks", 1, "choice", choices=CHECK_CHOICES, label="checks"),
    Param("view", "icicle", "choice", choices=tuple(VIEWS), label="view"),
    Param("depth", 4, "int", lo=1, hi=12, label="levels shown"),
    Param("node", 0, "int", lo=0, hi=tree.n_nodes - 1, label="node"),
    IMAGES,
]
messages = urlsync.url_settings(PAGE, PARAMS)
K = lambda name: urlsync.wkey(PAGE, name)  # noqa: E731 - short alias for widget keys

c = st.columns(3)
c[0].slider("Glimpse step", 1, steps, key=K("step"), help="Each step has its own keys (and its own tree)")
c[1].slider("Branching (k)", 2, 16, key=K("branching"), help="Clusters per split (the paper: 4)")
c[2].select_slider("Leaf size", LEAF_CHOICES, key=K("leaf"), help="A node with more keys is split again")


def _pick_node() -> None:
    event = st.session_state.get("tree_chart")
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else \
        getattr(getattr(event, "selection", None), "points", [])
    if points and str(points[0].get("id", "")).isdigit():
        st.session_state[K("node")] = int(points[0]["id"])


left, right = st.columns([3, 2])
with left:
    v = st.columns([2, 1])
    view = v[0].segmented_control("View", tuple(VIEWS), format_func=VIEWS.get, key=K("view")) or "icicle"
    depth = int(v[1].number_input("Levels shown", 1, 12, key=K("depth")))
    node = int(st.session_state[K("node")])
    fig = plots.key_tree(summary.parent, summary.size, summary.depth, summary.is_leaf, view, depth, node,
                         title=f"k-means tree of glimpse {t + 1}: {tree.n_nodes:,} nodes, height {tree.height}")
    furniture.plot(fig, key="tree_chart", on_select=_pick_node, selection_mode="points")
    st.caption("Blue: inner nodes; red: leaves; outlined: the chosen node and its path. Click a node to inspect "
               "it (a click on the chosen node's parent band zooms back out).")
with right:
    st.number_input(f"Node (0-{tree.n_nodes - 1})", 0, tree.n_nodes - 1, key=K("node"),
                    help="Node numbers go breadth first from the root (0)")
    node_info = lookups.memo("tree_nodes", 64).get(tree_id + (node,))
    if node_info is None:  # the node's rows, its keys nearest the centroid and the centroid (once per node)
        local = subtree_rows(summary, node)
        node_info = lookups.memo("tree_nodes", 64).put(tree_id + (node,), (
            local, local[central_keys(keys_t[local], table.layout, weights, TOP_KEYS)],
            decode_key(mean_key(keys_t[local]), cfg.ram)))
    local, top, centroid = node_info
    kids = int(np.sum(summary.parent == node))
    n = st.columns(3)
    n[0].metric("Keys", f"{len(local):,}")
    n[1].metric("Depth", int(summary.depth[node]))
    n[2].metric("Children", "leaf" if summary.is_leaf[node] else kids)
    counts = location_counts(keys_t[local], cfg.ram)
    furniture.plot(plots.location_map(counts, title=f"Where the keys of node {node} looked (glimpse {t + 1})"),
                   key="node_locations")

items = [("centroid (mean key)", centroid.patches)]
items += [(f"row {int(rows_t[i]):,}", decode_key(keys_t[i], cfg.ram).patches) for i in top]
levels = 2 ** cfg.ram.patch_bits
furniture.plot(plots.decoded_keys(items, centroid.widths_px, levels,
                               f"Node {node}: its centroid and the keys nearest to it, decoded into patches"),
            key="node_keys")
sources = [int(table.source[rows_t[i]]) for i in top]
furniture.plot(plots.digit_gallery([data.train_x[s] for s in sources],
                                [f"row {int(rows_t[i]):,}: train #{s}" for i, s in zip(top, sources)],
                                [decode_key(keys_t[i], cfg.ram).centre_px for i in top], cols=TOP_KEYS,
                                title="The training images those keys came from (x = where the glimpse looked)"),
            key="node_sources")


@st.fragment
def _search_quality() -> None:
    """Search cost and exactness: its controls rerun only this part (the tree and its views stay)."""
    st.subheader("Search cost and exactness")
    q = st.columns([3, 2])
    checks = int(q[0].select_slider("Checks (leaves scanned)", CHECK_CHOICES, key=K("checks"),
                                    help="Beam width of the descent: more leaves scanned, closer to brute force"))
    count = int(q[1].segmented_control("Test images (queries)", IMAGE_CHOICES, key=K("images"),
                                       format_func=lambda n: f"{n:,}") or 10000)
    trace = lookups.lookup_trace(table, "test", count, weights, "brute")
    reference = SearchResult(trace.rows[:, t], trace.distance[:, t], trace.comparisons[:, t],
                             np.zeros(count, dtype=np.int64))
    view = tree_for(count)  # the same tree: only its answers to more queries may be new
    max_d = table.layout.max_distance(weights)
    reports_id = tree_id + (count,)
    reports = lookups.memo("tree_reports", 8).get(reports_id)
    if reports is None:  # every checks value at once: the checks slider then only picks one
        reports = {ch: compare_with_reference(view.answers(ch, count), reference, max_d, len(rows_t))
                   for ch in CHECK_CHOICES}
        lookups.memo("tree_reports", 8).put(reports_id, reports)
    report = reports[checks]
    s = st.columns(4)
    s[0].metric("Comparisons per query", f"{report.mean_comparisons:,.0f}",
                help=f"Brute force: {len(rows_t):,} (every key of the step); centroids compared count too")
    s[1].metric("Less work than brute force", f"{report.speedup:,.0f}x")
    s[2].metric("Exact matches", f"{100 * report.exact_share:.1f}%",
                help="Queries whose match is as close as brute force's")
    s[3].metric("Largest distance error", f"{100 * report.max_normalized_error:.2f}%",
                help="(d_tree - d_brute) / largest possible distance; the paper: below 10%")
    a, b = st.columns(2)
    with a:
        furniture.plot(plots.distance_error_histogram(report.hist_counts, report.hist_edges, report.exact_share),
                    key="error_hist", download_name="mbi-tree-error")
    with b:
        tradeoff = [{"leaf_size": int(first["leaf"]), "checks": ch, "mean_comparisons": r.mean_comparisons,
                     "exact_share": r.exact_share, "max_normalized_error": r.max_normalized_error}
                    for ch, r in reports.items()]
        furniture.plot(plots.search_tradeoff(tradeoff, f"Comparisons vs exactness (glimpse {t + 1}, "
                                                    f"{count:,} queries)"), key="tradeoff")
    frame = pd.DataFrame(tradeoff)
    furniture.csv_download(frame, "mbi-tree-tradeoff", key="dl_tradeoff", label="Download the trade-off (CSV)")
    st.caption(f"Queries: the exact lookups of the first {count:,} test images at glimpse {t + 1}, with weights "
               f"{session_weights.weights_text(weights)} ({session_weights.weights_source()}).")
    urlsync.sync_url(PAGE, PARAMS)


_search_quality()
urlsync.sync_url(PAGE, PARAMS, messages)

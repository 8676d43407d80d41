"""Draw the MAAT architecture figure of docs/model.rst with matplotlib.

``conf.py`` calls :func:`draw` at every build, so the figure follows this
file. Run it alone to look at the figure::

    python docs/_scripts/architecture.py /tmp/architecture.svg
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

COLORS = {
    "io": "#e8e8e8",
    "embed": "#dbe9f6",
    "attention": "#fde2c4",
    "ff": "#fff3c4",
    "mamba": "#d5efd5",
    "gate": "#e6dcf3",
    "score": "#f6d5d5",
}


def _box(ax, x, y, w, h, text, color, size=9):
    """A rounded box centred on (x, y)."""
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=COLORS[color], edgecolor="#444444", linewidth=0.9,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def _arrow(ax, start, end, text=None, offset=(0.12, 0.0), style="-|>", ls="-"):
    ax.annotate(
        "", xy=end, xytext=start,
        arrowprops=dict(arrowstyle=style, color="#333333", linewidth=0.9,
                        linestyle=ls, shrinkA=0, shrinkB=0),
    )
    if text:
        mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*mid, text, fontsize=8, ha="left", va="center", color="#333333")


def draw(path):
    """Write the figure to ``path`` (format from the suffix)."""
    plt.rcParams["svg.hashsalt"] = "maat-architecture"  # stable SVG ids
    fig, ax = plt.subplots(figsize=(9.0, 10.5))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 12.2)
    ax.axis("off")

    cx = 3.2  # main column
    w = 4.6
    _box(ax, cx, 11.7, w, 0.5, r"window $X$   $(B, L, C)$", "io")
    _box(ax, cx, 10.75, w, 0.75,
         "embedding\ncircular Conv1d $C \\to d$ (kernel 3) + sinusoidal position",
         "embed", size=8.5)
    _arrow(ax, (cx, 11.45), (cx, 11.13))
    _arrow(ax, (cx, 10.37), (cx, 9.95), r"$x_0$  $(B, L, d)$")

    # Encoder layer l, repeated e_layers times.
    ax.add_patch(
        FancyBboxPatch(
            (0.45, 2.75), 5.5, 7.1, boxstyle="round,pad=0.02,rounding_size=0.2",
            facecolor="none", edgecolor="#777777", linewidth=1.0, linestyle="--",
        )
    )
    ax.text(0.6, 9.6, r"layer $l = 1 \ldots$ e_layers", fontsize=9, style="italic",
            color="#555555")
    _box(ax, cx, 8.95, w, 0.9,
         "anomaly attention\nseries $S_l$: softmax$(QK^\\top/\\sqrt{E})$ within blocks"
         "\nprior $P_l$: Gaussian of $|i-j|$, width $\\sigma_l$ learned",
         "attention", size=8.5)
    _arrow(ax, (cx, 9.75), (cx, 9.4))
    _box(ax, cx, 7.95, w, 0.5,
         "add & LN, feed-forward $d \\to F \\to d$ (GELU), add & LN", "ff",
         size=8.5)
    _arrow(ax, (cx, 8.5), (cx, 8.2))
    _arrow(ax, (cx, 7.7), (cx, 7.2), r"$a_l$")
    _box(ax, cx, 6.9, w, 0.6, "Mamba block (selective scan $h_t = "
         "\\bar A_t h_{t-1} + \\bar B_t u_t$)", "mamba", size=8.5)
    _arrow(ax, (cx, 6.6), (cx, 6.15))
    _box(ax, cx, 5.85, w, 0.6, r"$r_l = \mathrm{LN}(\mathrm{Mamba}(a_l) + x_{l-1})$",
         "mamba")
    _arrow(ax, (cx, 5.55), (cx, 5.1), r"$r_l$")
    _box(ax, cx, 4.75, w, 0.7,
         "gate $g_l = \\sigma(W_g [a_l; r_l] + b_g)$\n"
         "$x_l = g_l \\odot r_l + (1 - g_l) \\odot a_l$", "gate")
    # a_l bypasses the Mamba branch into the gate.
    ax.plot([cx, 0.75, 0.75], [7.45, 7.45, 4.75], color="#333333", lw=0.9)
    _arrow(ax, (0.75, 4.75), (cx - w / 2, 4.75))
    ax.text(0.8, 6.2, r"$a_l$", fontsize=8)
    # skip connection x_{l-1} into the Mamba residual.
    ax.plot([cx, 5.75, 5.75], [9.85, 9.85, 5.85], color="#333333",
            lw=0.9, ls=":")
    _arrow(ax, (5.75, 5.85), (cx + w / 2, 5.85), style="-|>", ls=":")
    ax.text(5.82, 7.6, r"$x_{l-1}$", fontsize=8)
    ax.text(cx, 2.9, "share_mamba=True: one Mamba, gate and LN for all layers",
            fontsize=7.5, ha="center", style="italic", color="#555555")
    _arrow(ax, (cx, 4.4), (cx, 2.23),
           r"$x_l$ (input of layer $l+1$; after the last layer:)", offset=(0.12, 0.4))

    _box(ax, cx, 1.95, w, 0.55, r"LayerNorm, Linear $d \to C$", "embed")
    _box(ax, cx, 0.8, w, 0.5, r"reconstruction $\hat X$   $(B, L, C)$", "io")
    _arrow(ax, (cx, 1.67), (cx, 1.05))

    # Right column: anomaly score and training losses.
    rx, rw = 8.1, 3.5
    _box(ax, rx, 8.95, rw, 0.9,
         "association discrepancy\n"
         r"$\mathrm{AD} = \tau \sum_l \mathrm{KL}(S_l \| P_l)"
         r" + \mathrm{KL}(P_l \| S_l)$",
         "score", size=8.5)
    _arrow(ax, (cx + w / 2, 8.95), (rx - rw / 2, 8.95))
    ax.text(5.95, 9.1, r"$S_l, P_l$", fontsize=8)
    _box(ax, rx, 6.4, rw, 1.1,
         "anomaly score per step\n"
         r"$\mathrm{softmax}_t(-\mathrm{AD}) \cdot "
         r"\mathrm{mean}_c (X - \hat X)^2$"
         "\nwindows \u2192 one score per row",
         "score", size=8.5)
    _arrow(ax, (rx, 8.5), (rx, 6.95))
    _box(ax, rx, 3.4, rw, 1.25,
         "training (minimax, from $S_l$, $P_l$, rec)\n"
         r"$\mathcal{L}_1 = \mathrm{rec} - k\,\mathrm{Dis}(S, \mathrm{sg}(P))$"
         "\n"
         r"$\mathcal{L}_2 = \mathrm{rec} + k\,\mathrm{Dis}(\mathrm{sg}(S), P)$",
         "score", size=8.5)
    ax.plot([cx + w / 2, 9.95, 9.95], [0.8, 0.8, 6.4], color="#333333", lw=0.9)
    _arrow(ax, (9.95, 6.4), (rx + rw / 2, 6.4))
    _arrow(ax, (9.95, 3.4), (rx + rw / 2, 3.4))
    ax.text(7.2, 0.95, r"rec $= (X - \hat X)^2$", fontsize=8)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(draw(sys.argv[1] if len(sys.argv) > 1 else "architecture.svg"))

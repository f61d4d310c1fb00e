"""``bb.explore_cost``: what a DataFrame would cost, per model and mode, before anything is sent.

::

    import brainbatch as bb

    ex = bb.explore_cost(df, prompt="Summarise: {text}", models=["gpt-4o-mini", "gpt-4o"],
                         params={"max_tokens": 150})
    ex                       # the panel: models, real time / batch / flex, answer length, sample
    ex.current_view()        # the table shown, as a DataFrame
    print(ex.submit_code())  # the bb.submit(...) call for the chosen setting

The DataFrame is read once: its rows become requests exactly as :func:`brainbatch.submit` makes
them (same checks, same errors), and :func:`brainbatch.estimate.token_counts` counts their prompt
tokens once, in a fixed random order (``seed``). Every control change re-prices those counts
with :func:`brainbatch.estimate.cost_table` (vectorised; milliseconds for 50,000 rows); the
sample-size slider takes the first *n* counted rows of that order and scales the sums to the
whole frame, it never goes back to the frame. Prompt tokens are counted with the tokenizer of
``model`` (else the first of ``models``): exact for OpenAI models, the documented approximation
otherwise; the other models' prices are applied to the same counts.

Flex processing (OpenAI's ``service_tier="flex"``, ``bb.submit(mode="flex")``) is billed at the
Batch API price: models that have it get a third bar and a ``flex`` row; models without it (every
non-OpenAI model) get none, and the status line names them. The status line says where each
mode's prices come from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..estimate import (
    DEFAULT_OUTPUT_RATIO,
    PriceModel,
    cost_table,
    expected_output,
    has_flex,
    price_name,
    token_counts,
)
from ..frame import MODEL_COLUMN_PREFIX, PromptFn, PromptSpec, build_requests
from ..pricing import list_priced_models
from .explore import Display, Explorer, table_html

__all__ = ["MAX_SAMPLE", "MODES", "CostExplorer", "explore_cost"]

MAX_SAMPLE = 20_000
"""Most rows whose prompt tokens are counted (a random sample of larger frames, scaled up)."""
MODES = ("all", "both", "realtime", "batch", "flex")
"""What the mode control offers: all three side by side, real time and batch, or one mode."""
_SHOWN = {
    "all": ("realtime", "batch", "flex"),
    "both": ("realtime", "batch"),
    "realtime": ("realtime",),
    "batch": ("batch",),
    "flex": ("flex",),
}
"""The modes priced under each setting of the mode control."""
_MODE_NAMES = {"realtime": "real time", "batch": "batch", "flex": "flex"}
_FLEX = "#f0ad4e"  # the flex bars' colour (real time and batch use the plots' colours)

TABLE_COLUMNS = (
    "model",
    "mode",
    "requests",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "usd_per_1k_requests",
    "saving_usd",
    "saving_pct",
    "price_source",
)
_OWN_PREFIXES = ("sim", "simulated", "mock")  # as in brainbatch.pricing
_HTML_COLUMNS = TABLE_COLUMNS[:-1]  # the price sources go in the status line
_SCALED = ("requests", "input_tokens", "output_tokens", "cost_usd", "saving_usd")
_FORMATS = {
    "requests": "{:,.0f}",
    "input_tokens": "{:,.0f}",
    "output_tokens": "{:,.0f}",
    "cost_usd": "${:,.4f}",
    "usd_per_1k_requests": "${:,.4f}",
    "saving_usd": "${:,.4f}",
    "saving_pct": "{:.0f}%",
}
_SLIDER_MAX = 1024


def _literal(value: Any) -> str:
    """Python source for ``value``, strings in double quotes where that needs no escaping."""
    if isinstance(value, str):
        r = repr(value)
        if r.startswith("'") and '"' not in value:
            r = '"' + r[1:-1] + '"'
        return r
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _usd(value: float) -> str:
    if value != value:
        return "n/a"
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


class CostExplorer(Explorer):
    """The cost what-if panel. Made by :func:`explore_cost`; see the module docstring.

    Controls (ipywidgets, change them from code too): ``models`` (TagsInput over the priced
    models), ``mode`` (``"all"``: real time, batch and flex; ``"both"``: real time and batch;
    ``"realtime"``, ``"batch"``, ``"flex"``), ``output_tokens`` (expected
    answer length per request, capped by each request's ``max_tokens``), ``from_max_tokens``
    (price every answer at its ``max_tokens``: the worst case), ``sample`` (rows whose counts
    are used, scaled to the whole frame), ``submit_model`` (the model the code uses).
    Outputs: ``figure`` (matplotlib), ``table`` (HTML), ``code`` (Textarea), ``status``.
    """

    def __init__(
        self,
        counts: pd.DataFrame,
        total_rows: int,
        *,
        models: Sequence[str],
        mode: str,
        output_tokens: int,
        sample: int,
        call: Mapping[str, Any],
        df_name: str,
        prompt_label: str | None,
        display: Display,
    ) -> None:
        super().__init__(display)
        import ipywidgets as w
        from matplotlib.figure import Figure

        from .plots import _ensure_inline_display

        _ensure_inline_display()
        self._counts = counts
        self._total = total_rows
        self._call = dict(call)
        self._df_name = df_name
        self._prompt_label = prompt_label
        self._view = pd.DataFrame(columns=list(TABLE_COLUMNS))
        self._busy = False
        caps = counts["max_tokens"].to_numpy(dtype=np.float64)
        self._has_caps = bool(len(caps)) and not bool(np.isnan(caps).any())
        priced = list_priced_models()
        self.figure = Figure(figsize=(7.5, 3.2), layout="constrained")

        self.models = w.TagsInput(
            value=list(models),
            allowed_tags=list(dict.fromkeys([*priced, *models])),
            allow_duplicates=False,
            placeholder="add a model (type to search)",
            layout=w.Layout(width="100%"),
        )
        self.mode = w.ToggleButtons(
            options=[
                ("all", "all"),
                ("both", "both"),
                ("real time", "realtime"),
                ("batch", "batch"),
                ("flex", "flex"),
            ],
            value=mode,
            description="mode",
            style={"button_width": "80px"},
        )
        # answers longer than max_tokens are capped: the slider stops at the largest cap
        top = int(np.nanmax(caps)) if self._has_caps else max(_SLIDER_MAX, 4 * output_tokens)
        top = max(top, output_tokens)
        self.output_tokens = w.IntSlider(
            value=output_tokens,
            min=1,
            max=top,
            step=1,
            description="answer tokens",
            continuous_update=False,
            style={"description_width": "initial"},
            layout=w.Layout(width="420px"),
        )
        self.from_max_tokens = w.Checkbox(
            value=False,
            description="worst case: every answer at max_tokens",
            disabled=not self._has_caps,
            indent=False,
        )
        self.sample = w.IntSlider(
            value=sample,
            min=1,
            max=max(1, len(counts)),
            description="sample rows",
            continuous_update=False,
            style={"description_width": "initial"},
            layout=w.Layout(width="420px"),
        )
        self.submit_model = w.Dropdown(description="submit with", options=[])
        self.status = w.HTML()
        self._image = w.Image(format="png", layout=w.Layout(max_width="760px"))
        self.table = w.HTML()
        self.code = w.Textarea(rows=9, layout=w.Layout(width="100%", max_width="760px"))
        self._box = w.VBox(
            [
                w.HTML("<b>brainbatch</b> · cost explorer"),
                self.models,
                self.mode,
                w.HBox([self.output_tokens, self.from_max_tokens]),
                self.sample,
                self.status,
                self._image,
                self.table,
                w.HTML("<b>Run it</b> (copy into a cell):"),
                self.submit_model,
                self.code,
            ]
        )
        for control in (self.models, self.mode, self.output_tokens, self.from_max_tokens):
            control.observe(self._changed, names="value")
        self.sample.observe(self._changed, names="value")
        self.submit_model.observe(self._model_picked, names="value")
        self._update()

    # -- state --------------------------------------------------------------------------------

    @property
    def total_rows(self) -> int:
        """Rows of the DataFrame (what the table's totals are scaled to)."""
        return self._total

    def modes(self) -> tuple[str, ...]:
        """The modes priced under the current ``mode`` control."""
        return _SHOWN[str(self.mode.value)]

    def output_setting(self) -> int | str:
        """``"max_tokens"`` or the expected answer length (tokens per request)."""
        return "max_tokens" if self.from_max_tokens.value else int(self.output_tokens.value)

    def current_view(self) -> pd.DataFrame:
        """The table shown: one row per (model, mode), totals for the whole frame.

        Columns: ``model``, ``mode``, ``requests``, ``input_tokens``, ``output_tokens``,
        ``cost_usd``, ``usd_per_1k_requests``, ``saving_usd``, ``saving_pct`` (batch or flex
        against real time for the same model) and ``price_source``; a ``flex`` row only for
        models with flex processing; as :func:`brainbatch.cost_table`
        with the sampled counts' sums scaled by rows / sample.
        """
        return self._view.copy()

    def _compute(self) -> pd.DataFrame:
        models = list(self.models.value)
        if not models or not len(self._counts):
            return pd.DataFrame(columns=list(TABLE_COLUMNS))
        n = int(self.sample.value)
        counts = self._counts.iloc[:n]
        table = cost_table(counts, models, self.modes(), self.output_setting())
        if n != self._total:
            scale = self._total / n
            for col in _SCALED:
                table[col] = table[col].astype("float64") * scale
            table["requests"] = table["requests"].round().astype("int64")
            table["input_tokens"] = table["input_tokens"].round().astype("int64")
        return table[list(TABLE_COLUMNS)]

    # -- updates ------------------------------------------------------------------------------

    def _changed(self, _change: Any) -> None:
        if not self._busy:
            self._update()

    def _model_picked(self, _change: Any) -> None:
        if not self._busy:
            self._show_code()

    def _update(self) -> None:
        self.updates += 1
        self.output_tokens.disabled = bool(self.from_max_tokens.value)
        self._view = self._compute()
        self._busy = True
        try:
            chosen = list(self.models.value)
            keep = self.submit_model.value
            self.submit_model.options = chosen
            self.submit_model.value = keep if keep in chosen else self._cheapest()
        finally:
            self._busy = False
        self._draw()
        self._draw_image()
        self.table.value = self._html_table()
        self.status.value = escape(self._status_text())
        self._show_code()

    def _show_code(self) -> None:
        code = self.submit_code()
        self.code.rows = code.count("\n") + 2
        self.code.value = code

    def _cheapest(self) -> str | None:
        view = self._view
        if not len(view):
            return None
        mode = self._code_mode()
        costs = view.loc[view["mode"] == mode, ["model", "cost_usd"]].dropna()
        if not len(costs):
            return str(view["model"].iloc[0])
        cheapest = int(np.argmin(costs["cost_usd"].to_numpy(dtype=np.float64)))
        return str(costs["model"].iloc[cheapest])

    def _code_mode(self) -> str:
        """The submit code's mode: the one shown, batch when several are (the cheapest)."""
        mode = str(self.mode.value)
        if mode == "flex" and not has_flex(str(self.submit_model.value)):
            return "batch"  # this model has no flex processing: half price is batch
        return mode if mode in ("realtime", "flex") else "batch"

    # -- figure -------------------------------------------------------------------------------

    def _draw(self) -> None:
        from .plots import _BATCH, _GREY, _OK, _empty

        fig = self.figure
        fig.clear()
        ax = fig.add_subplot()
        view = self._view
        if not len(view):
            _empty(ax, "pick one or more models")
            return
        models = list(dict.fromkeys(view["model"]))
        x = np.arange(len(models), dtype=np.float64)
        modes = self.modes()
        width = 0.8 / len(modes) if len(modes) > 1 else 0.6
        for i, mode in enumerate(modes):
            rows = view[view["mode"] == mode].set_index("model")
            present = [k for k, m in enumerate(models) if m in rows.index]  # no flex: no bar
            if not present:
                continue
            pos = x[present] + (i - (len(modes) - 1) / 2) * width
            rows = rows.reindex([models[k] for k in present])
            cost = rows["cost_usd"].to_numpy(dtype=np.float64)
            if mode == "realtime":
                ax.bar(pos, cost, width, color=_OK, label="real time")
                continue
            color = _BATCH if mode == "batch" else _FLEX
            name = "batch" if mode == "batch" else "flex (batch price, slower)"
            ax.bar(pos, cost, width, color=color, label=name)
            if mode == "flex":
                continue
            saving = rows["saving_usd"].to_numpy(dtype=np.float64)
            ax.bar(
                pos,
                saving,
                width,
                bottom=cost,
                fill=False,
                hatch="//",
                edgecolor=_BATCH,
                linewidth=0.8,
                label="batch saving",
            )
            for px, top, pct in zip(pos, cost + saving, rows["saving_pct"], strict=True):
                if np.isfinite(top) and np.isfinite(pct):
                    ax.annotate(
                        f"−{pct:.0f}%",
                        (px, top),
                        xytext=(0, 2),
                        textcoords="offset points",
                        ha="center",
                        va="bottom",
                        fontsize=8,
                        color=_BATCH,
                    )
        ax.set_xticks(x, models, rotation=20 if len(models) > 3 else 0, ha="right")
        if len(models) <= 3:
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("center")
        ax.yaxis.set_major_formatter(lambda v, _pos: f"${v:,.4g}")
        ax.set_ylabel(f"USD for {self._total:,} rows")
        ax.set_ylim(bottom=0)
        ax.margins(y=0.15)
        ax.set_title(self._chart_title(), fontsize=10, color=_GREY, loc="left")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)

    def _answers_text(self) -> str:
        setting = self.output_setting()
        if setting == "max_tokens":
            return "answers at max_tokens (worst case)"
        return f"answers ~{setting:,} tokens"

    def _chart_title(self) -> str:
        n = int(self.sample.value)
        sample = "" if n >= self._total else f" · tokens from a sample of {n:,}"
        return f"{self._total:,} rows · {self._answers_text()}{sample}"

    def _status_text(self) -> str:
        n = min(int(self.sample.value), len(self._counts))
        exact = bool(self._counts["exact"].iloc[:n].all()) if n else True
        how = "exact" if exact else "approximate"
        if n >= self._total:
            rows = f"all {self._total:,} rows"
        else:
            rows = f"a sample of {n:,} of {self._total:,} rows, scaled up"
        return f"prompt tokens ({how}) counted once, from {rows}{self._sources_text()}"

    def _sources_text(self) -> str:
        """Where each shown mode's prices come from, and which models have no flex."""
        view = self._view
        parts = []
        for mode in self.modes():
            sources = dict.fromkeys(str(x) for x in view.loc[view["mode"] == mode, "price_source"])
            if sources:
                parts.append(f"{_MODE_NAMES[mode]}: {', '.join(sources)}")
        text = f" · prices: {'; '.join(parts)}" if parts else ""
        if "flex" in self.modes():
            flex = set(view.loc[view["mode"] == "flex", "model"])
            without = [m for m in dict.fromkeys(view["model"]) if m not in flex]
            if without:
                text += f" · no flex processing (OpenAI models only): {', '.join(without)}"
        return text

    # -- text views ---------------------------------------------------------------------------

    def _title(self) -> str:
        k = len(self.models.value)
        mode = {
            "all": "real time vs batch vs flex",
            "both": "real time vs batch",
            "realtime": "real time",
            "batch": "batch",
            "flex": "flex",
        }[self.mode.value]
        return (
            f"cost explorer · {self._total:,} rows · {k} model{'s' * (k != 1)} · {mode} · "
            f"{self._answers_text()}"
        )

    def _text_table(self) -> str:
        view = self._view.copy()
        for col in ("output_tokens",):
            view[col] = view[col].astype("float64").round(0)
        for col in ("cost_usd", "usd_per_1k_requests", "saving_usd"):
            view[col] = view[col].astype("float64").round(6)
        view["saving_pct"] = view["saving_pct"].astype("float64").round(1)
        return str(view.drop(columns=["price_source"]).to_string(index=False))

    def _html_table(self) -> str:
        return table_html(self._view[list(_HTML_COLUMNS)], _FORMATS)

    def submit_code(self) -> str:
        """The ``bb.submit(...)`` call for the chosen model, mode and settings, as code."""
        model = self.submit_model.value
        if model is None:
            return "# pick a model above"
        mode = self._code_mode()
        view = self._view
        row = view[(view["model"] == model) & (view["mode"] == mode)]
        lines = []
        if mode != self.mode.value and self.mode.value == "flex":
            lines.append(f"# {model} has no flex processing (OpenAI models only): batch instead")
        if len(row):
            cost = float(row["cost_usd"].iloc[0])
            note = f"# {model}, {_MODE_NAMES[mode]}: ~{_usd(cost)}"
            if mode != "realtime":
                note += f" (real time ~{_usd(cost + float(row['saving_usd'].iloc[0]))})"
            lines.append(f"{note} for {self._total:,} rows, {self._answers_text()}")
        args = [self._df_name]
        prompt = self._call["prompt"]
        args.append(
            f"prompt={self._prompt_label}" if self._prompt_label else f"prompt={_literal(prompt)}"
        )
        args.append(f"model={_literal(model)}")
        call = dict(self._call)
        if mode == "batch":
            args.append('mode="batch"')
            call.pop("delay", None)  # real time only: bb.submit refuses it with mode="batch"
            if call.get("provider") in _SIMULATOR_NAMES:
                # the in-process simulator has no Batch API: give the call that runs at the
                # provider, and say how to try batch mode offline
                call = {k: v for k, v in call.items() if k not in _SIMULATOR_ONLY}
                lines.append(
                    "# batch mode runs at the provider (set its API key); the in-process "
                    "simulator has no Batch API: offline, see notebooks/03-native-batch.ipynb "
                    "(bb.sim.SimServer)"
                )
        elif mode == "flex":
            args.append('mode="flex"')
            if call.get("provider") in _SIMULATOR_NAMES:
                # bb.submit refuses mode="flex" on the in-process simulator (no flex tier)
                call = {k: v for k, v in call.items() if k not in _SIMULATOR_ONLY}
                lines.append(
                    "# flex runs at OpenAI (set OPENAI_API_KEY); the in-process simulator has "
                    "no flex tier: offline, use bb.sim.SimServer with provider='openai'"
                )
        for key, value in call.items():
            if key != "prompt":
                args.append(f"{key}={_literal(value)}")
        lines.append("job = bb.submit(")
        lines.extend(f"    {a}," for a in args)
        lines.append(")")
        lines.append("job  # the live panel; results = await job")
        return "\n".join(lines)

    def _code(self) -> str:
        return self.submit_code()


_SIMULATOR_NAMES = ("sim", "simulated")
_SIMULATOR_ONLY = frozenset(
    {
        "provider",
        "latency_ms",
        "latency_sigma",
        "error_rate",
        "error_kinds",
        "seed",
        "mean_output_tokens",
    }
)
"""Settings only the in-process simulator takes (dropped from a batch-mode call)."""


def _priced_name(model: str, price_model: PriceModel) -> str:
    """The name a row's model is priced as, without our own ``sim/`` prefix."""
    name = price_name(model, price_model)
    prefix, _, rest = name.partition("/")
    return rest if rest and prefix in _OWN_PREFIXES else name


def _check_models(models: Sequence[str] | str | None) -> list[str] | None:
    if models is None:
        return None
    if isinstance(models, str):
        models = [models]
    bad = [m for m in models if not isinstance(m, str) or not m]
    if bad:
        raise InputError(f"models must be model names (strings), got {bad[0]!r}")
    return list(dict.fromkeys(models))


def _count(
    requests: Sequence[Any],
    *,
    max_sample: int,
    seed: int,
    model: str | None,
    max_tokens: int | None,
) -> pd.DataFrame:
    """Token counts of up to ``max_sample`` requests, in a fixed random order (one call)."""
    order = np.random.default_rng(seed).permutation(len(requests))[:max_sample]
    return token_counts([requests[int(i)] for i in order], model=model, max_tokens=max_tokens)


def explore_cost(
    df: pd.DataFrame,
    prompt: str | PromptFn,
    models: Sequence[str] | str | None = None,
    *,
    model: str | None = None,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    max_tokens: int | None = None,
    expected_output_tokens: int | None = None,
    output_ratio: float = DEFAULT_OUTPUT_RATIO,
    price_model: PriceModel = None,
    mode: str = "all",
    sample: int | None = None,
    max_sample: int = MAX_SAMPLE,
    seed: int = 0,
    df_name: str = "df",
    display: Display = "auto",
    **submit_kwargs: Any,
) -> CostExplorer:
    """An interactive what-if of what ``df`` would cost, before anything is sent.

    Args:
        df, prompt, system, params, custom_id: as for :func:`brainbatch.submit` (the rows are
            checked the same way; a bad row raises :class:`~brainbatch.errors.InputError`).
        models: the models shown at first (more can be added from the priced models); default
            the priced name of ``model`` (or of each row's model with ``model="col:..."``).
        model: the model whose tokenizer counts the prompts (default the first of
            ``models``); ``"col:<column>"`` counts each row with its own model.
        max_tokens: output cap per request (else ``params["max_tokens"]``); enables the worst
            case and caps the expected answer length. Also written into the submit code.
        expected_output_tokens: the answer-length slider's start (default ``output_ratio`` x
            the mean prompt, as in :func:`brainbatch.estimate`).
        price_model: how row models map to priced models for the default ``models``.
        mode: at first ``"all"`` (real time, batch and flex side by side), ``"both"`` (real
            time and batch), ``"realtime"``, ``"batch"`` or ``"flex"``.
        sample: rows whose counts are used at first (default all counted rows).
        max_sample: most rows counted (a random sample of bigger frames, scaled up).
        seed: the sample's random order (fixed, so outputs are the same from run to run).
        df_name: the DataFrame's variable name in the submit code.
        display: ``"auto"``, ``"widget"`` or ``"static"`` (see :mod:`.explore`).
        submit_kwargs: more :func:`brainbatch.submit` arguments (``provider=``,
            ``max_concurrent=``, ``max_cost_usd=``, ``latency_ms=``...), written into the code
            as given.

    Returns a :class:`CostExplorer`: display it for the panel; ``.current_view()`` is its table.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"explore_cost: expected a pandas DataFrame, got {type(df).__name__}")
    chosen = _check_models(models)
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    for name, value in (("max_sample", max_sample), ("sample", sample)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    per_row = model is not None and model.startswith(MODEL_COLUMN_PREFIX)
    build_model = model if model is not None else (chosen[0] if chosen else "sim")
    requests = build_requests(
        df,
        PromptSpec(
            prompt=prompt, model=build_model, system=system, params=params, custom_id=custom_id
        ),
    )
    count_model = None if per_row else build_model
    counts = _count(
        requests, max_sample=max_sample, seed=seed, model=count_model, max_tokens=max_tokens
    )
    if chosen is None:
        chosen = list(dict.fromkeys(_priced_name(r.model, price_model) for r in requests))
    if expected_output_tokens is None:
        mean = expected_output(counts, None, output_ratio=output_ratio).mean() if len(counts) else 1
        start = max(1, round(float(mean)))
    else:
        if isinstance(expected_output_tokens, bool) or not isinstance(
            expected_output_tokens, int | float
        ):
            raise InputError(
                f"expected_output_tokens must be a number, got {expected_output_tokens!r}"
            )
        start = max(1, round(expected_output_tokens))
    call: dict[str, Any] = {"prompt": prompt}
    if system is not None:
        call["system"] = system
    merged = dict(params or {})
    if max_tokens is not None:
        merged["max_tokens"] = max_tokens
    if merged:
        call["params"] = merged
    if custom_id is not None:
        call["custom_id"] = custom_id
    call.update(submit_kwargs)
    label = getattr(prompt, "__name__", "your_prompt_function") if callable(prompt) else None
    return CostExplorer(
        counts,
        len(requests),
        models=chosen,
        mode=mode,
        output_tokens=start,
        sample=min(sample or len(counts), max(1, len(counts))),
        call=call,
        df_name=df_name,
        prompt_label=label,
        display=display,
    )

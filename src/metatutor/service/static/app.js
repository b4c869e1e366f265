// Draw every Vega-Lite chart in content htmx loads (the page itself, then each swapped panel).
htmx.onLoad(function (root) {
  root.querySelectorAll("[data-vega-spec]").forEach(function (el) {
    vegaEmbed(el, JSON.parse(el.dataset.vegaSpec), { actions: false, renderer: "svg" });
  });
});

/* gradcheck-bench: the graphs of the benchmarks listed below open on a logarithmic y-axis.
 *
 * They are the accuracy benchmarks (unit "relative difference"): a correct source sits near
 * 1e-11 and the numpy-buggy canary near 0.3, so on asv's default linear axis every correct
 * line lies flat at zero. asv keeps the axis in the page's address (#name?y-axis-scale=log);
 * this adds that parameter when such a graph is opened, and only then, so asv's own
 * "log scale" button still switches it off. `gradcheck-bench dashboard localize` fills in
 * the list and loads this file before asv's scripts.
 */
(function () {
    var logScaleBenchmarks = /*BENCHMARKS*/[];
    var shown = null;

    function openOnLogScale() {
        var hash = window.location.hash.replace(/^#\/?/, "");
        var name = decodeURIComponent(hash.split("?")[0]);
        if (name === shown) {
            return;  // the same graph: leave the user's choice of axis alone
        }
        shown = name;
        if (logScaleBenchmarks.indexOf(name) < 0 || /(^|[?&])y-axis-scale=/.test(hash.split("?")[1] || "")) {
            return;
        }
        window.location.replace("#" + hash + (hash.indexOf("?") < 0 ? "?" : "&") + "y-axis-scale=log");
    }

    openOnLogScale();
    window.addEventListener("hashchange", openOnLogScale);
})();

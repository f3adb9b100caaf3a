using System.Globalization;
using OxyPlot;
using Probe.Analysis;

namespace Probe.Reporting.Sections;

/// <summary>
/// Turns dead-unit results (<see cref="DeadUnitStudyResult"/>, <see cref="DeadUnitTimelineResult"/>) into figures, a
/// console table, JSON with every figure's numbers, and a report section.
/// </summary>
public static class DeadUnitFigures
{
    /// <summary>Bins of the firing-rate histograms (equal bins over [0, 1]).</summary>
    public const int HistogramBins = 20;

    private static readonly string[] Colors = ["#4C9F70", "#F2A541", "#C0392B", "#7F7F7F"];

    /// <summary>Alive / dying / dead (and saturated, for sigmoid/tanh layers) fractions of one layer; they sum to 1.</summary>
    public static (double Alive, double Dying, double Dead, double Saturated) Fractions(LayerUnitStats s)
    {
        ArgumentNullException.ThrowIfNull(s);
        double alive = Math.Max(0, 1 - s.DeadFraction - s.DyingFraction - s.SaturatedFraction);
        return (alive, s.DyingFraction, s.DeadFraction, s.SaturatedFraction);
    }

    /// <summary>One stacked bar per layer: alive, dying and dead fractions of its units (saturated too when any layer is sigmoid/tanh).</summary>
    public static PlotModel FractionBars(DeadUnitStudyResult result, string? title = null, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Layers.Length == 0) throw new ProbeException("Dead units: no layers to draw.");
        var f = result.Layers.Select(l => Fractions(l.Stats)).ToArray();
        var series = new List<NamedSeries>
        {
            new("alive", f.Select(x => x.Alive).ToArray()),
            new("dying", f.Select(x => x.Dying).ToArray()),
            new("dead", f.Select(x => x.Dead).ToArray()),
        };
        bool saturating = result.Layers.Any(l => l.Stats.Activation is UnitActivation.Sigmoid or UnitActivation.Tanh);
        if (saturating) series.Add(new("saturated", f.Select(x => x.Saturated).ToArray()));
        return Figures.StackedBar(result.Layers.Select(l => l.Layer).ToArray(), series, title, "fraction of units",
            Colors[..series.Count], yMax: 1, style: style);
    }

    /// <summary>
    /// A figure style for <see cref="FractionBars"/> sized for its layers: <paramref name="basis"/> (default one journal
    /// column) up to 7 bars, then about 0.3 in per bar (a ResNet's 17 ReLU calls: 6.4 in), and below the bars room for
    /// slanted names as long as the layers' (the names of a ResNet's layers ran into each other at a fixed width).
    /// </summary>
    public static FigureStyle StyleFor(DeadUnitStudyResult result, FigureStyle? basis = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        basis ??= FigureStyle.Column;
        int n = result.Layers.Length, chars = result.Layers.Length == 0 ? 0 : result.Layers.Max(l => l.Layer.Length);
        double width = Math.Max(basis.WidthInches, Math.Min(1.3 + 0.3 * n, 12));
        double height = basis.HeightInches + (n > 7 && chars > 5 ? 0.045 * chars : 0);
        return basis with { WidthInches = width, HeightInches = height };
    }

    /// <summary>Histogram of the per-unit firing rates of one layer (<see cref="HistogramBins"/> bins over [0, 1]).</summary>
    public static PlotModel FiringRateHistogram(DeadLayerResult layer, string? title = null, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return Figures.Histogram(layer.Stats.FiringRates.Select(r => (double)r).ToArray(), HistogramBins, 0, 1, title,
            "firing rate (fraction of samples with a > 0)", "units", style);
    }

    /// <summary>Units x checkpoints heatmap of firing rates (units sorted by their final rate; dead units end up at the bottom).</summary>
    public static PlotModel Timeline(DeadLayerTimeline layer, int[] epochs, string? title = null, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(layer); ArgumentNullException.ThrowIfNull(epochs);
        var rates = layer.FiringRates.Select(c => c.Select(r => (double)r).ToArray()).ToArray();
        return Figures.UnitTimeline(rates, EpochLabels(epochs), title, sortUnitsByFinalRate: true, style: style);
    }

    /// <summary>Checkpoint labels that stay readable: every epoch up to 10 checkpoints, else every 2nd/5th/10th/... (and the last).</summary>
    public static string[] EpochLabels(int[] epochs)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        int step = 1;
        foreach (int s in new[] { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000 })
        {
            step = s;
            if (epochs.Length <= 10 * s) break;
        }
        return epochs.Select((e, i) => i % step == 0 || i == epochs.Length - 1 && (epochs.Length - 1) % step >= step / 2
            ? e.ToString(CultureInfo.InvariantCulture) : "").ToArray();
    }

    /// <summary>
    /// A figure style for <see cref="DeadFractionOverTraining"/>: <paramref name="basis"/> (default one journal column)
    /// widened by its legend, one entry per layer, in as many columns as the plot's height needs (a line of text and a
    /// third each), so the plot keeps the width it has without a legend. At one column a ResNet's 17 layers took two
    /// thirds of the figure for their legend and left the plot a sliver.
    /// </summary>
    public static FigureStyle StyleFor(DeadUnitTimelineResult timeline, FigureStyle? basis = null)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        basis ??= FigureStyle.Column;
        if (timeline.Layers.Length <= 1) return basis;
        double perInch = FigureStyle.UnitsPerInch, line = Figures.TextHeight(basis) * 1.35;
        int perColumn = Math.Max(1, (int)Math.Floor((basis.HeightUnits - 2 * line) / line));
        int columns = (timeline.Layers.Length + perColumn - 1) / perColumn;
        double column = timeline.Layers.Max(l => Figures.TextWidth(l.Layer, basis)) + 3.5 * basis.FontUnits;
        return basis with { WidthInches = Math.Min(12, basis.WidthInches + columns * column / perInch) };
    }

    /// <summary>Dead fraction of every layer at every checkpoint (one line per layer).</summary>
    public static PlotModel DeadFractionOverTraining(DeadUnitTimelineResult timeline, string? title = null, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        if (timeline.Layers.Length == 0) throw new ProbeException("Dead units: no layers to draw.");
        var series = timeline.Layers.Select(l => new NamedSeries(l.Layer, l.DeadFraction)).ToArray();
        double top = series.Max(s => s.Values.Max());
        double yMax = Math.Min(1, Math.Max(0.05, top * 1.15));
        return Figures.LineChart(timeline.Epochs.Select(e => (double)e).ToArray(), series, title, "epoch", "dead fraction of units",
            yMin: 0, yMax: yMax, style: style);
    }

    /// <summary>The console table's column headers.</summary>
    public static string[] TableHeaders { get; } = ["layer", "type", "units", "dead", "dying", "saturated", "dead fraction", "sparsity", "causes of death"];

    /// <summary>
    /// One row per layer: counts, dead fraction, sparsity ("n/a" for a layer stored reduced, see
    /// <see cref="DeadLayerResult.ReductionNote"/>) and a summary of the causes.
    /// </summary>
    public static IReadOnlyList<object?>[] TableRows(DeadUnitStudyResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.Layers.Select(l => (IReadOnlyList<object?>)new object?[]
        {
            l.Layer, l.ModuleType, l.Stats.Units, l.Stats.DeadUnits.Length, l.Stats.DyingUnits.Length, l.Stats.SaturatedUnits.Length,
            l.Stats.DeadFraction, l.Reduced == null ? l.Stats.Sparsity : "n/a", CauseSummary(l),
        }).ToArray();
    }

    /// <summary>The table as aligned console text.</summary>
    public static string ConsoleTable(DeadUnitStudyResult result) =>
        TextTable.Render(TableHeaders, TableRows(result).Select(r => (IReadOnlyList<string>)r.Select(TextTable.Cell).ToArray()));

    /// <summary>A short summary of why a layer's dead units are dead, e.g. "6 bias too low, 1 no input reached 0".</summary>
    public static string CauseSummary(DeadLayerResult layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        if (layer.Stats.DeadUnits.Length == 0) return "";
        if (layer.Causes.Length == 0) return layer.Stats.Activation == UnitActivation.Rectified ? "causes not computed (see below)" : "";
        return string.Join(", ", layer.Causes.GroupBy(c => c.Reason).OrderBy(g => g.Key)
            .Select(g => g.Count().ToString(CultureInfo.InvariantCulture) + " " + ShortReason(g.Key)));
    }

    /// <summary>A few words for a cause of death.</summary>
    public static string ShortReason(DeadUnitReason reason) => reason switch
    {
        DeadUnitReason.ZeroIncomingWeights => "zero weights",
        DeadUnitReason.BiasBelowReachableInput => "bias too low",
        DeadUnitReason.AllPreActivationsNegative => "data never reaches 0",
        DeadUnitReason.InputAlwaysZero => "input always 0",
        _ => reason.ToString(),
    };

    /// <summary>Every figure's numbers and the dead unit indices, as a JSON-serializable object.</summary>
    public static object Json(DeadUnitStudyResult result, DeadUnitTimelineResult? timeline = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        var edges = Enumerable.Range(0, HistogramBins + 1).Select(i => i / (double)HistogramBins).ToArray();
        return new
        {
            samples = result.Samples,
            dyingThreshold = result.DyingThreshold,
            firingRule = result.FiringRule,
            leftOut = result.LeftOut,
            layers = result.Layers.Select(l =>
            {
                var s = l.Stats;
                var f = Fractions(s);
                return new
                {
                    layer = l.Layer,
                    type = l.ModuleType,
                    activation = s.Activation.ToString(),
                    outputShape = l.OutputShape,
                    units = s.Units,
                    positionsPerUnit = l.Positions,
                    deadUnits = s.DeadUnits,
                    dyingUnits = s.DyingUnits,
                    saturatedUnits = s.SaturatedUnits,
                    aliveFraction = f.Alive,
                    dyingFraction = s.DyingFraction,
                    deadFraction = s.DeadFraction,
                    saturatedFraction = s.SaturatedFraction,
                    // A layer stored reduced has no activation figures: null, and reductionNote says why.
                    sparsity = Figure(l, s.Sparsity),
                    epsilon = s.Epsilon,
                    epsilonSparsity = Figure(l, s.EpsilonSparsity),
                    mean = Figure(l, s.Mean), std = Figure(l, s.Std), min = Figure(l, s.Min), max = Figure(l, s.Max),
                    storedReduction = l.Reduced == null ? null : l.Reduced.How?.ToString().ToLowerInvariant() ?? "unknown",
                    reducedFrom = l.Reduced?.From,
                    reductionNote = l.ReductionNote,
                    activationNote = l.ActivationNote,
                    firingRates = s.FiringRates,
                    // Sigmoid and tanh layers: the fraction of samples on which each unit sits within 1% of an end of its range.
                    saturationRates = s.SaturationRates.Length > 0 ? s.SaturationRates : null,
                    firingRateHistogram = new { edges, counts = Figures.HistogramCounts(s.FiringRates.Select(r => (double)r).ToArray(), HistogramBins, 0, 1) },
                    precedingLayer = l.PrecedingLayer,
                    precedingType = l.PrecedingType,
                    foldedNorm = l.FoldedNorm,
                    causeSummary = CauseSummary(l),
                    causeNote = l.CauseNote,
                    causes = l.Causes.Select(c => new
                    {
                        unit = c.Unit, reason = c.Reason.ToString(), maxPreActivation = c.MaxPreActivation, bias = c.Bias,
                        weightNorm = c.WeightNorm, maxInputNorm = c.MaxInputNorm, reachableBound = c.ReachableBound, explanation = c.Explanation,
                    }),
                };
            }),
            timeline = timeline == null ? null : new
            {
                epochs = timeline.Epochs,
                layers = timeline.Layers.Select(t => new
                {
                    layer = t.Layer,
                    units = t.Units,
                    deadFraction = t.DeadFraction,
                    dyingFraction = t.DyingFraction,
                    deadFromInitialisation = t.DeadFromInitialisation,
                    diedInTraining = t.DiedInTraining,
                    firingRatesByCheckpoint = t.FiringRates,
                    deaths = t.Deaths.Where(d => d.DeadAtEnd || d.Revivals > 0).Select(d => new
                    {
                        unit = d.Unit, deadAtEnd = d.DeadAtEnd, diedAtEpoch = d.DiedAtEpoch, everAlive = d.EverAlive,
                        deadFromInitialisation = d.DeadFromInitialisation, diedInTraining = d.DiedInTraining, revivals = d.Revivals,
                    }),
                }),
            },
        };
    }

    /// <summary>
    /// Adds the whole dead-unit section to a report: table, stacked bars, one histogram per layer, and (with a timeline)
    /// one heatmap per layer and the dead fraction over training. <paramref name="label"/> prefixes names (e.g. a run name).
    /// </summary>
    public static void AddTo(ReportFolder report, string section, DeadUnitStudyResult result, DeadUnitTimelineResult? timeline = null, string label = "")
    {
        ArgumentNullException.ThrowIfNull(report); ArgumentNullException.ThrowIfNull(result);
        string pre = label.Length > 0 ? label + " " : "";
        string inRun = label.Length > 0 ? $" in run '{label}'" : "";
        report.AddTable(section, $"{pre}dead units per layer ({result.Samples} samples)", TableHeaders, TableRows(result));
        var dead = result.Layers.Where(l => l.Stats.DeadUnits.Length > 0).ToList();
        string worst = dead.Count == 0 ? "No layer has a dead unit."
            : "Dead units: " + string.Join("; ", dead.Select(l => Inv($"{l.Layer} {l.Stats.DeadUnits.Length} of {l.Stats.Units}"))) + ".";
        var bars = StyleFor(result, report.Style);
        report.AddFigure(section, pre + "fractions", FractionBars(result, $"{pre}alive / dying / dead units", report.StyleOf(bars)),
            $"Fraction of alive, dying (firing on fewer than {Pct(result.DyingThreshold)} of samples) and dead (never firing) units per layer{inRun}. {worst}", bars);
        foreach (var l in result.Layers)
        {
            var s = l.Stats;
            report.AddFigure(section, pre + l.Layer + " firing rates", FiringRateHistogram(l, $"{pre}{l.Layer}: per-unit firing rate", report.StyleOf()),
                Inv($"How often each unit of {l.Layer} fires{inRun}: {s.DeadUnits.Length} of {s.Units} units never fire and {s.DyingUnits.Length} fire on fewer than {Pct(result.DyingThreshold)} of samples (both in the leftmost bar). A healthy layer has few units piled at 0 (dead) or 1 (always on, i.e. linear). ") + CauseSentence(l));
        }
        foreach (var l in result.Layers.Where(l => l.ReductionNote != null))
            report.AddText(section, $"{pre}{l.Layer}: {l.ReductionNote}.");
        foreach (var l in result.Layers.Where(l => l.ActivationNote != null))
            report.AddText(section, $"{pre}{l.Layer}: {l.ActivationNote}.");
        foreach (var l in result.Layers.Where(l => l.CauseNote != null && l.Stats.DeadUnits.Length > 0))
            report.AddText(section, $"{pre}{l.Layer}: causes not computed: {l.CauseNote}.");
        if (timeline != null)
        {
            foreach (var t in timeline.Layers)
            {
                report.AddFigure(section, pre + t.Layer + " timeline", Timeline(t, timeline.Epochs, $"{pre}{t.Layer}: firing rate per unit", report.StyleOf()),
                    Inv($"Each row is a unit of {t.Layer}, each column a checkpoint (epoch); colour = firing rate. Units are sorted by their final rate, so units dead at the end form the dark band at the bottom: {t.DeadFromInitialisation} were dead from initialisation, {t.DiedInTraining} died during training."));
            }
            report.AddFigure(section, pre + "dead fraction over training", DeadFractionOverTraining(timeline, $"{pre}dead units over training", report.StyleOf()),
                "Fraction of dead units per layer at every checkpoint" + inRun + ". A line that rises and stays up means units are dying during training and not coming back; "
                + "final: " + string.Join(", ", timeline.Layers.Select(t => $"{t.Layer} {Pct(t.DeadFraction[^1])}")) + ".");
        }
        report.AddJson(section, pre + "dead units", Json(result, timeline));
    }

    private static string CauseSentence(DeadLayerResult l)
    {
        if (l.Causes.Length == 0) return "";
        return "Why they are dead: " + CauseSummary(l) + (l.FoldedNorm is { } bn ? $" (weights of {l.PrecedingLayer} with the BatchNorm {bn} folded in)." : $" (weights of {l.PrecedingLayer}).");
    }

    private static T? Figure<T>(DeadLayerResult l, T v) where T : struct => l.Reduced == null ? v : null;

    private static string Pct(double f) => (100 * f).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);
}

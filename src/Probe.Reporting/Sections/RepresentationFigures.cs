using System.Globalization;
using OxyPlot;
using Probe.Analysis;

namespace Probe.Reporting.Sections;

/// <summary>Figures and tables of representation quality (separability and linear probes per layer, per checkpoint).</summary>
public static class RepresentationFigures
{
    /// <summary>Probe test accuracy (percent) versus depth, one line per checkpoint (ordered colours, early = dark).</summary>
    public static PlotModel ProbeAccuracyVersusDepth(IReadOnlyList<CheckpointQuality> checkpoints, string? title = "Linear-probe test accuracy by layer", FigureStyle? style = null)
    {
        var (layers, series) = Series(checkpoints, l => 100 * l.ProbeTestAccuracy);
        double min = series.SelectMany(s => s.Values).Min();
        return Figures.LineChart(layers, series, title, "layer", "probe test accuracy (%)", sequentialColors: true,
            yMin: Math.Max(0, Math.Floor(min / 10) * 10), yMax: 100, style: style, showLegend: NeedsLegend(checkpoints));
    }

    /// <summary>Separability ratio (between / within class scatter) versus depth, one line per checkpoint.</summary>
    public static PlotModel SeparabilityVersusDepth(IReadOnlyList<CheckpointQuality> checkpoints, string? title = "Class separability by layer", FigureStyle? style = null)
    {
        var (layers, series) = Series(checkpoints, l => l.SeparabilityRatio);
        return Figures.LineChart(layers, series, title, "layer", "separability (between / within)", sequentialColors: true,
            yMin: 0, style: style, showLegend: NeedsLegend(checkpoints));
    }

    /// <summary>
    /// A figure style for <see cref="ProbeAccuracyVersusDepth"/> and <see cref="SeparabilityVersusDepth"/> sized for their
    /// layers as <see cref="DeadUnitFigures.StyleFor"/> sizes the dead-unit bars: <paramref name="basis"/> (default one
    /// journal column) up to 7 layers, then about 0.3 in per layer (at most 12 in), and below the plot room for slanted
    /// names as long as the layers'. At one column a ResNet's 18 layer names ran into each other.
    /// </summary>
    public static FigureStyle StyleFor(IReadOnlyList<CheckpointQuality> checkpoints, FigureStyle? basis = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoints);
        basis ??= FigureStyle.Column;
        var layers = checkpoints.Count == 0 ? [] : checkpoints[0].Layers.Select(l => l.Layer).ToArray();
        int n = layers.Length, chars = n == 0 ? 0 : layers.Max(l => l.Length);
        double width = Math.Max(basis.WidthInches, Math.Min(1.3 + 0.3 * n, 12));
        double height = basis.HeightInches + (n > 7 && chars > 5 ? 0.045 * chars : 0);
        return basis with { WidthInches = width, HeightInches = height };
    }

    /// <summary>One model without an epoch is one line the y title names: its legend ("model") would only take room.</summary>
    static bool NeedsLegend(IReadOnlyList<CheckpointQuality> checkpoints) => checkpoints.Count > 1 || checkpoints.Count == 1 && checkpoints[0].Epoch is not null;

    /// <summary>Column headers of <see cref="TableRows"/>.</summary>
    public static IReadOnlyList<string> TableHeaders { get; } =
        ["layer", "features", "separability", "Fisher tr", "probe train acc", "probe test acc", "macro acc", "log loss", "seconds"];

    /// <summary>One row per layer: separability ratio, Fisher trace ratio, probe accuracies (fractions), log loss and seconds.</summary>
    public static IEnumerable<IReadOnlyList<object?>> TableRows(IEnumerable<LayerQuality> layers) =>
        layers.Select(l => (IReadOnlyList<object?>)new object?[]
        {
            l.Layer, l.Features, l.SeparabilityRatio, l.FisherTraceRatio, l.ProbeTrainAccuracy, l.ProbeTestAccuracy,
            l.ProbeMacroAccuracy, l.ProbeLogLoss, Math.Round(l.Seconds, 3),
        });

    /// <summary>Label of a checkpoint in legends ("epoch 5", or "model" without an epoch).</summary>
    public static string Label(CheckpointQuality c) =>
        c.Epoch is int e ? "epoch " + e.ToString(CultureInfo.InvariantCulture) : "model";

    private static (string[] Layers, NamedSeries[] Series) Series(IReadOnlyList<CheckpointQuality> checkpoints, Func<LayerQuality, double> value)
    {
        ArgumentNullException.ThrowIfNull(checkpoints);
        if (checkpoints.Count == 0) throw new ProbeException("Representation figures need at least one checkpoint.");
        var layers = checkpoints[0].Layers.Select(l => l.Layer).ToArray();
        if (layers.Length == 0) throw new ProbeException("Representation figures need at least one layer.");
        foreach (var c in checkpoints)
            if (!c.Layers.Select(l => l.Layer).SequenceEqual(layers))
                throw new ProbeException($"Checkpoint '{Label(c)}' has other layers ({string.Join(", ", c.Layers.Select(l => l.Layer))}) than the first ({string.Join(", ", layers)}).");
        return (layers, checkpoints.Select(c => new NamedSeries(Label(c), c.Layers.Select(value).ToArray())).ToArray());
    }
}

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
            yMin: Math.Max(0, Math.Floor(min / 10) * 10), yMax: 100, style: style);
    }

    /// <summary>Separability ratio (between / within class scatter) versus depth, one line per checkpoint.</summary>
    public static PlotModel SeparabilityVersusDepth(IReadOnlyList<CheckpointQuality> checkpoints, string? title = "Class separability by layer", FigureStyle? style = null)
    {
        var (layers, series) = Series(checkpoints, l => l.SeparabilityRatio);
        return Figures.LineChart(layers, series, title, "layer", "separability (between / within)", sequentialColors: true,
            yMin: 0, style: style);
    }

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

using System.Diagnostics;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Analysis;

/// <summary>
/// Representation quality of one layer (plain data): the separability ratio (and the scale-invariant Fisher trace
/// ratio when computed), and the linear probe's train/test accuracy, macro accuracy, log loss and confusion matrix
/// (rows = true class, columns = predicted, indexing <see cref="Classes"/>). <see cref="Seconds"/> is this layer's wall
/// time (separability + probe).
/// </summary>
public sealed record LayerQuality(
    string Layer,
    int Features,
    double SeparabilityRatio,
    double? FisherTraceRatio,
    double ProbeTrainAccuracy,
    double ProbeTestAccuracy,
    double ProbeMacroAccuracy,
    double ProbeLogLoss,
    int[][] ConfusionMatrix,
    int[] Classes,
    int TrainCount,
    int TestCount,
    double Seconds);

/// <summary>The per-layer qualities of one model state; <see cref="Epoch"/> and the network accuracies come from a run's checkpoint when there is one.</summary>
public sealed record CheckpointQuality(int? Epoch, double? NetworkTrainAccuracy, double? NetworkTestAccuracy, LayerQuality[] Layers);

/// <summary>
/// A study across checkpoints: the same samples (<see cref="SampleIndices"/> into the data set) and the same split for
/// every checkpoint; <see cref="Split"/> says where the train/test split came from; <see cref="Warnings"/> are probe
/// plateaus (<see cref="ProbePlateau"/>).
/// </summary>
public sealed record RepresentationReport(
    string Split,
    int[] SampleIndices,
    CheckpointQuality[] Checkpoints,
    ProbePlateauWarning[] Warnings);

/// <summary>
/// Per-layer representation quality: captures the selected layers (conv maps pooled per channel with
/// <see cref="Reduce"/>), then runs the separability analysis and a linear probe on every layer. With a run folder the
/// probe trains on the run's own training rows and is scored on its test rows; otherwise a given train mask, or the
/// probe's seeded stratified split. <see cref="MaxSamples"/> limits the samples (seeded, same rows for every checkpoint).
/// </summary>
public sealed record RepresentationStudy(
    LayerSelector? Layers = null,
    MapReduction Reduce = MapReduction.Mean,
    LinearProbe? Probe = null,
    bool Fisher = true,
    double FisherLambda = 1e-3,
    int? MaxSamples = null,
    int Seed = 0,
    int BatchSize = 256)
{
    private LinearProbe ProbeSettings => Probe ?? new LinearProbe(Seed: Seed);

    /// <summary>Stops the study between batches, layers and checkpoints when cancelled.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Where the model runs when the study builds the source itself (a TorchSharp model or a run's checkpoints).</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;

    /// <summary>
    /// The model input whose [N, T] rows mark each sample's real tokens (1) and padding (0), such as
    /// <c>attention_mask</c>: sequence sites of T tokens are pooled over the real tokens only (see
    /// <see cref="ActivationCapture.TokenMask"/>). Null: every token counts.
    /// </summary>
    public string? TokenMask { get; init; }

    /// <summary>Analyses in-memory layer matrices (all with one row per label). <paramref name="trainMask"/>: true = probe training row.</summary>
    public LayerQuality[] Analyze(IReadOnlyList<(string Layer, Matrix Features)> layers, int[] labels, bool[]? trainMask = null)
    {
        ArgumentNullException.ThrowIfNull(layers); ArgumentNullException.ThrowIfNull(labels);
        if (layers.Count == 0) throw new ProbeException("No layers to analyse.");
        var result = new LayerQuality[layers.Count];
        for (int i = 0; i < layers.Count; i++, Cancellation.ThrowIfCancellationRequested()) result[i] = AnalyzeLayer(layers[i].Layer, layers[i].Features, labels, trainMask);
        return result;
    }

    /// <summary>Analyses one layer's matrix.</summary>
    public LayerQuality AnalyzeLayer(string layer, Matrix features, int[] labels, bool[]? trainMask = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        var sw = Stopwatch.StartNew();
        var sep = Separability(layer, features, labels, Fisher, FisherLambda);
        ProbeResult probe;
        try { probe = ProbeSettings.Run(features, labels, trainMask); }
        catch (ProbeException e) { throw new ProbeException($"Layer '{layer}': {e.Message}", e); }
        return new LayerQuality(layer, features.Cols, sep.Ratio, sep.FisherTraceRatio, probe.TrainAccuracy, probe.TestAccuracy,
            probe.MacroAccuracy, probe.LogLoss, probe.ConfusionMatrix, probe.Classes, probe.TrainCount, probe.TestCount, sw.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The separability of one layer; when <paramref name="fisher"/> is set but the Fisher criterion is undefined
    /// (singular within-class scatter: more features than samples - classes, or collinear units), the ratio is
    /// returned without it (and without spending features^2 memory on a scatter that cannot be used).
    /// </summary>
    public static SeparabilityResult Separability(string layer, Matrix features, IReadOnlyList<int> labels, bool fisher = true, double fisherLambda = 1e-3)
    {
        if (!fisher || SeparabilityAccumulator.VaryingWithinClasses(features, labels) > (long)features.Rows - labels.Distinct().Count())
            return new SeparabilityAnalyzer(false).Run(features, labels, layer);
        try { return new SeparabilityAnalyzer(true, fisherLambda).Run(features, labels, layer); }
        catch (ProbeException)
        {
            // Either a real input error (rethrown by the plain run below) or an undefined Fisher criterion.
            return new SeparabilityAnalyzer(false).Run(features, labels, layer);
        }
    }

    /// <summary>Captures <paramref name="model"/> on <paramref name="data"/> (a labelled data set) and analyses every selected layer.</summary>
    public CheckpointQuality Run(nn.Module<Tensor, Tensor> model, IDataset data, bool[]? trainMask = null)
    {
        using var source = new ModuleSource(model) { Device = Device };
        return Run(source, data, trainMask);
    }

    /// <summary>Captures any activation source on <paramref name="data"/> (a labelled data set) and analyses every selected site.</summary>
    public CheckpointQuality Run(IActivationSource source, IDataset data, bool[]? trainMask = null)
    {
        var rows = SampleChooser.Choose(data.Count, MaxSamples, Seed);
        var mask = trainMask is null ? null : Select(trainMask, rows, data.Count);
        return RunRows(source, data, rows, mask, null);
    }

    /// <summary>
    /// Every checkpoint of <paramref name="run"/> (or those in <paramref name="epochs"/>) on <paramref name="data"/>, which must
    /// be the run's data set (same sample count as its split); probes use the run's train/test split.
    /// </summary>
    public RepresentationReport Run(RunFolder run, IDataset data, IReadOnlyList<int>? epochs = null)
    {
        ArgumentNullException.ThrowIfNull(run); ArgumentNullException.ThrowIfNull(data);
        if (data.Count != run.Info.Split.Samples)
            throw new ProbeException($"Run '{run.Directory}' was trained on {run.Info.Split.Samples} samples, but data set '{data.Name}' has {data.Count}; give the run's data ({run.Info.Data}).");
        var chosen = epochs is null ? run.Checkpoints.ToList() : epochs.Distinct().Order().Select(run.Checkpoint).ToList();
        if (chosen.Count == 0) throw new ProbeException($"Run '{run.Directory}' has no checkpoints.");
        var rows = SampleChooser.Choose(data.Count, MaxSamples, Seed);
        var mask = Select(RunTrainMask(run.Info.Split), rows, data.Count);
        var results = new List<CheckpointQuality>();
        foreach (var cp in chosen)
        {
            Cancellation.ThrowIfCancellationRequested();
            using var source = new ModuleSource(run.BuildModel(cp.Epoch), ownsModel: true) { Device = Device };
            results.Add(RunRows(source, data, rows, mask, cp));
        }
        var warnings = Plateau(results);
        return new RepresentationReport($"run split: {run.Info.Split.TestIndices.Length} test rows of {run.Info.Split.Samples} (seed {run.Info.Split.Seed})",
            rows, [.. results], warnings);
    }

    /// <summary>Probe plateau warnings for checkpoints that carry an epoch and the network's training accuracy.</summary>
    public static ProbePlateauWarning[] Plateau(IReadOnlyList<CheckpointQuality> checkpoints)
    {
        var usable = checkpoints.Where(c => c.Epoch is not null && c.NetworkTrainAccuracy is not null)
            .Select(c => new ProbeCheckpoint(c.Epoch!.Value, c.NetworkTrainAccuracy!.Value,
                c.Layers.ToDictionary(l => l.Layer, l => l.ProbeTestAccuracy, StringComparer.Ordinal))).ToList();
        return usable.Count == checkpoints.Count ? ProbePlateau.Check(usable) : [];
    }

    /// <summary>The run's training mask over all its samples: true = trained on.</summary>
    public static bool[] RunTrainMask(SplitInfo split)
    {
        ArgumentNullException.ThrowIfNull(split);
        var mask = new bool[split.Samples];
        Array.Fill(mask, true);
        foreach (var i in split.TestIndices) mask[i] = false;
        return mask;
    }

    private static bool[] Select(bool[] mask, int[] rows, int count)
    {
        if (mask.Length != count) throw new ProbeException($"The train mask has {mask.Length} entries for {count} samples.");
        return rows.Select(r => mask[r]).ToArray();
    }

    private CheckpointQuality RunRows(IActivationSource source, IDataset data, int[] rows, bool[]? mask, CheckpointInfo? cp)
    {
        ArgumentNullException.ThrowIfNull(source); ArgumentNullException.ThrowIfNull(data);
        if (data.Labels is null) throw new ProbeException($"Data set '{data.Name}' has no labels; separability and probes need class labels.");
        var subset = rows.Length == data.Count ? data : data.Subset(rows);
        var capture = new ActivationCapture(Layers, Reduce, BatchSize: BatchSize) { Cancellation = Cancellation, Device = Device, TokenMask = TokenMask };
        var sink = new InMemorySink(subset.Count);
        var summary = capture.Run(source, subset, sink);
        var layers = summary.LayerNames.Select(n => (n, sink.Outputs[n])).ToList();
        return new CheckpointQuality(cp?.Epoch, cp?.TrainAccuracy, cp?.TestAccuracy, Analyze(layers, subset.Labels!, mask));
    }
}

/// <summary>
/// A <see cref="Trainer.OnCheckpoint"/> callback that stores each layer's separability and probe accuracy in the
/// epoch's run.json entry under <c>"representation"</c> (probes train on the run's training rows, scored on its test rows).
/// </summary>
public static class RepresentationCallback
{
    /// <summary>The key of the entry in <see cref="CheckpointInfo.Extra"/>.</summary>
    public const string Key = "representation";

    /// <summary>
    /// A callback analysing the layers chosen by <paramref name="layers"/> at epochs divisible by <paramref name="every"/>
    /// (epoch 0 included); <paramref name="study"/> sets the probe, reduction and sample cap (its Layers are replaced).
    /// </summary>
    public static Action<EpochContext> Create(string layers = "all", int every = 1, RepresentationStudy? study = null)
    {
        if (every < 1) throw new ProbeException($"The representation callback's interval must be at least 1 epoch, got {every}.");
        var s = (study ?? new RepresentationStudy()) with { Layers = new LayerSelector(layers) };
        return ctx =>
        {
            if (ctx.Epoch % every != 0) return;
            var q = s.Run(ctx.Model, ctx.Data, RepresentationStudy.RunTrainMask(ctx.Split));
            ctx.Extra[Key] = q.Layers.Select(l => new RepresentationEntry(l.Layer, l.Features, l.SeparabilityRatio, l.FisherTraceRatio,
                l.ProbeTrainAccuracy, l.ProbeTestAccuracy, l.Seconds)).ToArray();
        };
    }
}

/// <summary>One layer's numbers as stored in run.json by <see cref="RepresentationCallback"/>.</summary>
public sealed record RepresentationEntry(string Layer, int Features, double SeparabilityRatio, double? FisherTraceRatio,
    double ProbeTrainAccuracy, double ProbeTestAccuracy, double Seconds);

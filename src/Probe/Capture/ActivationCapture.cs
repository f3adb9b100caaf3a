using System.Runtime.InteropServices;
using Probe.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Capture;

/// <summary>What a capture run saw: the layers in the order they fired and their non-finite value counts.</summary>
public sealed record CaptureSummary(
    int Samples,
    IReadOnlyList<LayerInfo> Layers,
    IReadOnlyDictionary<string, long> NonFiniteOutputs,
    IReadOnlyDictionary<string, long> NonFiniteInputs)
{
    /// <summary>The layer names in firing order.</summary>
    public IReadOnlyList<string> LayerNames => Layers.Select(l => l.Name).ToList();
}

/// <summary>
/// Records per-site activations while a data set streams through an activation source (a TorchSharp model, an ONNX
/// model, precomputed activations) in batches, and hands every batch to streaming consumers. A streamed data set is
/// read ahead on another thread while the model runs (an in-memory one is read in place); memory stays at a few
/// batches however large the data set is.
/// Non-finite values are counted per site.
/// </summary>
/// <param name="Layers">Which sites to record (default: every leaf site).</param>
/// <param name="Reduce">How feature maps and sequences become rows (default: mean over positions, one column per unit).</param>
/// <param name="IncludeInputs">Also record each selected site's input (for a ReLU: its pre-activation).</param>
/// <param name="BatchSize">Samples per forward pass.</param>
public sealed record ActivationCapture(
    LayerSelector? Layers = null,
    MapReduction Reduce = MapReduction.Mean,
    bool IncludeInputs = false,
    int BatchSize = 256)
{
    /// <summary>Stops the run between batches when cancelled (throws <see cref="OperationCanceledException"/>).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Where the model runs when the study builds the source itself (a TorchSharp model or a run's checkpoints).</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;

    /// <summary>Called after each batch with (samples done, samples in all), for progress displays.</summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>
    /// Sites whose output or input is recorded reduced their own way instead of as <see cref="Reduce"/> (e.g. a ReLU's
    /// pre-activation as each unit's maximum, <see cref="MapReduction.Max"/>), or handed to a reader where it lies
    /// instead of being recorded (its non-finite values counted as the reader reports them); see
    /// <see cref="IActivationSource.Start(IReadOnlyList{string}, MapReduction, bool, SiteReductions)"/>.
    /// </summary>
    public SiteReductions PerSite { get; init; } = SiteReductions.None;

    /// <summary>
    /// The model input that marks each sample's real tokens (1) and padding (0), such as <c>attention_mask</c>: an
    /// input of the source given as an array of shape [N, T] (see <see cref="IActivationSource.InputArray"/>). Every
    /// selected sequence site of T tokens is then reduced over the real tokens only: mean = sum(h * mask) / sum(mask),
    /// max over the real tokens, first and last = the first and last real token; flatten keeps every value. A reader
    /// of such a site (<see cref="PerSite"/>) is handed each sample's real tokens only. Other sites are unaffected; a
    /// sample with no real token, or a selection without such a site, is refused. Null (the default): every token counts.
    /// </summary>
    public string? TokenMask { get; init; }

    /// <summary>Streams <paramref name="data"/> through a TorchSharp <paramref name="model"/> (see <see cref="ModuleSource"/>).</summary>
    public CaptureSummary Run(nn.Module<Tensor, Tensor> model, IDataset data, params IActivationConsumer[] consumers)
    {
        using var source = new ModuleSource(model) { Device = Device };
        return Run(source, data, consumers);
    }

    /// <summary>Streams <paramref name="data"/> through <paramref name="source"/> and hands every batch to each consumer.</summary>
    public CaptureSummary Run(IActivationSource source, IDataset data, params IActivationConsumer[] consumers)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(data);
        if (BatchSize <= 0) throw new ProbeException($"Batch size must be positive, got {BatchSize}.");
        if (data.Count == 0) throw new ProbeException($"Data set '{data.Name}' has no samples to capture.");
        if (data is Dataset d) d.Validate();
        // Flattened, a masked sequence keeps its padding tokens: a consumer that drops the mask's rows (rows in memory,
        // a streaming analysis) would take padding as data. Site readers get each sample's real tokens only.
        if (TokenMask != null && Reduce == MapReduction.Flatten && consumers.Any(c => !c.KeepsTokenMaskRows))
            throw new ProbeArgumentException($"With the token mask '{TokenMask}', --reduce flatten keeps every token of a sequence, padding included, and rows kept in memory or handed to an analysis carry no mask to tell them apart: " +
                "pool the sequences over their real tokens (--reduce mean, max, first or last), or capture them to files (probe capture keeps the mask's rows).");
        // The mask first: one of another shape is refused saying what it should be, before the model runs.
        var mask = TokenMask is string maskInput ? ReadMask(source, maskInput, data) : null;
        source.Bind(data);
        // Samples of another layout than the model's input (channels-last images for a [C, H, W] model) are refused
        // here, on the library path as in the CLI: the run would otherwise reshape them silently.
        if (source.InputShape is { } inputShape) DataLayout.CheckAgainstModel(data, inputShape);
        var sites = (Layers ?? LayerSelector.All).Resolve(source.Sites, source.NotASite);
        var nonFiniteOut = sites.ToDictionary(s => s, _ => 0L, StringComparer.Ordinal);
        var nonFiniteIn = IncludeInputs ? sites.ToDictionary(s => s, _ => 0L, StringComparer.Ordinal) : new Dictionary<string, long>();
        // A site handed to a reader is counted as its reader counts it (a reader runs on one thread at a time).
        SiteReader Counted(string site, SiteReader reader, Dictionary<string, long> into) => (rows, count, cols) =>
        {
            long bad = reader(rows, count, cols);
            lock (into) into[site] = into.GetValueOrDefault(site) + bad;
            return bad;
        };
        var perSite = PerSite with
        {
            OutputReaders = PerSite.OutputReaders.ToDictionary(kv => kv.Key, kv => Counted(kv.Key, kv.Value, nonFiniteOut), StringComparer.Ordinal),
            InputReaders = PerSite.InputReaders.ToDictionary(kv => kv.Key, kv => Counted(kv.Key, kv.Value, nonFiniteIn), StringComparer.Ordinal),
        };
        using var run = mask != null
            ? MaskedRun.Start(source, sites, Reduce, IncludeInputs, perSite, mask, Shapes(source, data, sites))
            : source.Start(sites, Reduce, IncludeInputs, perSite);
        if (run is IDataBoundRun bound) bound.Data = data; // side inputs follow each sample's original row
        // Capturing into memory alone: the hooks copy every site's rows straight into the sink's arrays.
        var direct = consumers is [InMemorySink only] && run is IDirectRun ? only : null;
        if (direct != null) ((IDirectRun)run).Target = direct.Rows;
        var known = run as IFiniteAwareRun;
        int size = data.SampleSize();
        // An in-memory data set is read in place: no reading thread (on a 2-core machine it took time from libtorch's
        // threads) and no per-batch copy; anything else is read ahead on another thread.
        var batches = data is Dataset inMemory
            ? InPlace(inMemory, BatchSize, Cancellation)
            : data.Batches(BatchSize, prefetch: 2, workers: 1, Cancellation).Select(b => (b.Start, b.Count, (ReadOnlyMemory<float>)b.Values));
        foreach (var (start, n, values) in batches)
        {
            run.Forward(values.Span[..(n * size)], n, data.SampleShape, start);
            // Every site's check on all cores while the model waits (each count lands in its own slot); the run's own
            // counts where it counted while copying the rows out.
            var checks = new List<(string Key, Matrix Value, bool input)>();
            foreach (var input in IncludeInputs ? new[] { false, true } : new[] { false })
            {
                var rows = input ? run.Inputs : run.Outputs;
                foreach (var site in sites)
                {
                    if (known?.NonFinite(site, input) is long bad) (input ? nonFiniteIn : nonFiniteOut)[site] += bad;
                    else if (rows.TryGetValue(site, out var m)) checks.Add((site, m, input));
                }
            }
            var counts = new long[checks.Count];
            long total = checks.Sum(c => (long)c.Value.Rows * c.Value.Cols);
            if (total >= 1 << 20) Parallel.For(0, checks.Count, i => counts[i] = Matrix.CountNonFinite(checks[i].Value.Data));
            else for (int i = 0; i < checks.Count; i++) counts[i] = Matrix.CountNonFinite(checks[i].Value.Data);
            for (int i = 0; i < checks.Count; i++) (checks[i].input ? nonFiniteIn : nonFiniteOut)[checks[i].Key] += counts[i];
            var batch = new ActivationBatch(start, n, data.Labels?.AsSpan(start, n).ToArray(), run.Outputs, run.Inputs)
                { TokenMaskRows = mask?.RowsOf(Enumerable.Range(start, n).Select(data.OriginalRow).ToArray()) };
            foreach (var c in consumers) c.OnBatch(batch);
            Progress?.Invoke(start + n, data.Count);
        }
        var layers = run.Layers;
        direct?.OrderAs(sites);
        foreach (var c in consumers) c.OnEnd(layers);
        return new CaptureSummary(data.Count, layers,
            layers.ToDictionary(l => l.Name, l => nonFiniteOut[l.Name], StringComparer.Ordinal),
            IncludeInputs ? layers.ToDictionary(l => l.Name, l => nonFiniteIn[l.Name], StringComparer.Ordinal) : new Dictionary<string, long>());
    }

    // The token mask's rows, one per sample of the whole data set.
    private static TokenMask ReadMask(IActivationSource source, string input, IDataset data)
    {
        var mask = Capture.TokenMask.From(input, source.InputArray(input));
        if (mask.Rows != data.OriginalCount)
            throw new ProbeException($"The token mask '{input}' has {mask.Rows} rows but the data set has {data.OriginalCount} samples: give it one row per sample of the whole data set, in the data set's order.");
        return mask;
    }

    /// <summary>
    /// Each of <paramref name="sites"/>' per-sample output shape and layout (in the order given): as the source tells
    /// them when it knows every one (a TorchSharp model's trace, a graph with static shapes, stored activations), else
    /// from a pass of the data's first sample.
    /// </summary>
    internal static IReadOnlyList<LayerInfo> Shapes(IActivationSource source, IDataset data, IReadOnlyList<string> sites)
    {
        var known = source.Sites.Where(s => s.OutputShape != null).ToDictionary(s => s.Name, StringComparer.Ordinal);
        static LayerInfo Known(SiteInfo s, int order) => new(s.Name, s.OpType, s.OutputShape!, s.OutputShape!.Aggregate(1, (a, d) => a * d), order)
            { LayoutType = s.LayoutType, ActivationType = s.ActivationType };
        return sites.All(known.ContainsKey)
            ? sites.Select((n, i) => Known(known[n], i)).ToList()
            : new ActivationCapture(new LayerSelector(string.Join(",", sites)), MapReduction.Flatten, false, 1).Run(source, data.Subset([0])).Layers;
    }

    private static IEnumerable<(int Start, int Count, ReadOnlyMemory<float> Values)> InPlace(Dataset d, int batchSize, CancellationToken ct)
    {
        int cols = d.Features.Cols;
        for (int start = 0; start < d.Count; start += batchSize)
        {
            ct.ThrowIfCancellationRequested();
            int n = Math.Min(batchSize, d.Count - start);
            yield return (start, n, d.Features.Data.AsMemory(start * cols, n * cols));
        }
    }

    /// <summary>
    /// Captures into memory: one float32 matrix per site, rows in data order. With <paramref name="maxSamples"/>,
    /// only that many samples, chosen uniformly with <paramref name="seed"/> and kept in data order: the same samples
    /// for every site and for every model run on the same data set.
    /// </summary>
    public CapturedActivations ToMemory(IActivationSource source, IDataset data, int? maxSamples = null, int seed = 0)
    {
        int[] rows = SampleChooser.Choose(data.Count, maxSamples, seed);
        var subset = rows.Length == data.Count ? data : data.Subset(rows);
        var sink = new InMemorySink(subset.Count);
        var summary = Run(source, subset, sink);
        return new CapturedActivations(summary, sink.Outputs, sink.Inputs, subset.Labels, rows);
    }

    /// <summary>Captures a TorchSharp model into memory (see <see cref="ToMemory(IActivationSource, IDataset, int?, int)"/>).</summary>
    public CapturedActivations ToMemory(nn.Module<Tensor, Tensor> model, IDataset data, int? maxSamples = null, int seed = 0)
    {
        using var source = new ModuleSource(model) { Device = Device };
        return ToMemory(source, data, maxSamples, seed);
    }
}

/// <summary>Activations captured into memory: one matrix per layer, rows in data order.</summary>
public sealed record CapturedActivations(
    CaptureSummary Summary,
    IReadOnlyDictionary<string, Matrix> Outputs,
    IReadOnlyDictionary<string, Matrix> Inputs,
    int[]? Labels,
    int[] SampleIndices)
{
    /// <summary>The layer names in firing order.</summary>
    public IReadOnlyList<string> LayerNames => Summary.LayerNames;

    /// <summary>The output matrix of a layer; an unknown name lists the captured ones.</summary>
    public Matrix this[string layer] => Outputs.TryGetValue(layer, out var m) ? m
        : throw new ProbeException($"Layer '{layer}' was not captured. Captured layers: {string.Join(", ", LayerNames)}.");
}

/// <summary>Seeded uniform choice of sample rows, returned in data order.</summary>
public static class SampleChooser
{
    /// <summary>All rows when <paramref name="max"/> is null or not smaller than <paramref name="count"/>; else a seeded sorted subset.</summary>
    public static int[] Choose(int count, int? max, int seed)
    {
        if (max is null || max.Value >= count) return Enumerable.Range(0, count).ToArray();
        if (max.Value <= 0) throw new ProbeException($"The sample cap must be positive, got {max.Value}.");
        return DatasetSampling.UniformIndices(count, max.Value, seed);
    }
}

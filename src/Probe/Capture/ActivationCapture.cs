using System.Runtime.InteropServices;
using Probe.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Capture;

/// <summary>How a feature map (N x C x ...) becomes one row per sample.</summary>
public enum MapReduction
{
    /// <summary>Global average pool per channel: one column per channel (the default for maps).</summary>
    Mean,
    /// <summary>Global max pool per channel: a channel is positive on a sample when any position is.</summary>
    Max,
    /// <summary>Every value is a column (C x H x W columns).</summary>
    Flatten,
    /// <summary>Sequence outputs [N, T, D]: the first token's D values (e.g. a transformer's [CLS] position).</summary>
    First,
    /// <summary>Sequence outputs [N, T, D]: the last token's D values (e.g. a causal model's summary position).</summary>
    Last,
}

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
/// Records per-layer activations with TorchSharp forward hooks while a data set streams through a model in batches.
/// The model runs in eval mode under no_grad, each batch inside a DisposeScope, so native memory stays flat. Hooks
/// copy what they receive (a later in-place op cannot change it) and are always removed when the run ends.
/// </summary>
/// <param name="Layers">Which modules to record (default: every leaf module).</param>
/// <param name="Reduce">How feature maps become rows (default: mean over positions, one column per channel).</param>
/// <param name="IncludeInputs">Also record each selected module's input (for a ReLU: its pre-activation).</param>
/// <param name="BatchSize">Samples per forward pass.</param>
public sealed record ActivationCapture(
    LayerSelector? Layers = null,
    MapReduction Reduce = MapReduction.Mean,
    bool IncludeInputs = false,
    int BatchSize = 256)
{
    /// <summary>Streams <paramref name="data"/> through <paramref name="model"/> and hands every batch to each consumer.</summary>
    public CaptureSummary Run(nn.Module<Tensor, Tensor> model, Dataset data, params IActivationConsumer[] consumers)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (BatchSize <= 0) throw new ProbeException($"Batch size must be positive, got {BatchSize}.");
        if (data.Count == 0) throw new ProbeException($"Data set '{data.Name}' has no samples to capture.");
        data.Validate();
        using var session = new HookSession(model, (Layers ?? LayerSelector.All).Resolve(model), this);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            long[] shape = new long[data.SampleShape.Length + 1];
            for (int i = 0; i < data.SampleShape.Length; i++) shape[i + 1] = data.SampleShape[i];
            int cols = data.Features.Cols;
            for (int start = 0; start < data.Count; start += BatchSize)
            {
                int n = Math.Min(BatchSize, data.Count - start);
                // Every tensor of the forward pass lives and dies in this scope. The hooks copy into managed buffers,
                // so consumers run after it: a tensor a consumer creates and keeps is never disposed under it.
                using (var scope = torch.NewDisposeScope())
                {
                    shape[0] = n;
                    var x = torch.empty(shape, ScalarType.Float32);
                    data.Features.Data.AsSpan(start * cols, n * cols).CopyTo(MemoryMarshal.Cast<byte, float>(x.bytes));
                    session.BeginBatch(n);
                    try
                    {
                        model.call(x);
                    }
                    catch (ProbeException) { throw; }
                    catch (Exception e) when (e is ExternalException or ArgumentException or InvalidOperationException)
                    {
                        throw session.ShapeError(e, shape);
                    }
                }
                session.EndBatch(start == 0);
                var batch = new ActivationBatch(start, n, data.Labels?.AsSpan(start, n).ToArray(), session.Outputs(n), session.Inputs(n));
                foreach (var c in consumers) c.OnBatch(batch);
            }
            var summary = session.Summary(data.Count);
            foreach (var c in consumers) c.OnEnd(summary.Layers);
            return summary;
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>
    /// Captures into memory: one float32 matrix per layer, rows in data order. With <paramref name="maxSamples"/>,
    /// only that many samples, chosen uniformly with <paramref name="seed"/> and kept in data order: the same samples
    /// for every layer and for every model run on the same data set.
    /// </summary>
    public CapturedActivations ToMemory(nn.Module<Tensor, Tensor> model, Dataset data, int? maxSamples = null, int seed = 0)
    {
        int[] rows = SampleChooser.Choose(data.Count, maxSamples, seed);
        var subset = rows.Length == data.Count ? data : data.Subset(rows);
        var sink = new InMemorySink(subset.Count);
        var summary = Run(model, subset, sink);
        return new CapturedActivations(summary, sink.Outputs, sink.Inputs, subset.Labels, rows);
    }

    /// <summary>Turns one hooked tensor into a (batch x features) float32 contiguous CPU tensor.</summary>
    internal Tensor ToRows(Tensor t)
    {
        if (t.dim() == 0) return t.reshape(1, 1).to_type(ScalarType.Float32).contiguous();
        long n = t.shape[0];
        Tensor r = t.dim() switch
        {
            1 => t.reshape(n, 1),
            2 => t,
            _ => Reduce switch
            {
                MapReduction.Flatten => t.reshape(n, -1),
                MapReduction.Mean => t.flatten(2).mean(new long[] { 2 }),
                MapReduction.Max => t.flatten(2).amax(new long[] { 2 }),
                _ => throw new ProbeException($"Unknown reduction {Reduce}."),
            },
        };
        if (r.dtype != ScalarType.Float32) r = r.to_type(ScalarType.Float32);
        return r.is_contiguous() ? r : r.contiguous();
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

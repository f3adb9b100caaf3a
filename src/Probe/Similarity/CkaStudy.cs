using System.Globalization;
using Probe.Capture;
using Probe.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Similarity;

/// <summary>How a <see cref="CkaStudy"/> evaluates CKA on a model's layers.</summary>
public enum CkaStudyMethod
{
    /// <summary>Full-data CKA when the captured layers (and, for RBF, the n x n kernels) fit the memory budget; else minibatch.</summary>
    Auto,
    /// <summary>Capture every selected layer into memory and run <see cref="Cka.AllPairs(IReadOnlyList{string}, IReadOnlyList{Matrix})"/> / <see cref="Cka.Cross"/> (exact, biased or debiased).</summary>
    Full,
    /// <summary>Stream batches through <see cref="MinibatchCka"/> (unbiased HSIC per batch; memory independent of the sample count).</summary>
    Minibatch,
}

/// <summary>The outcome of a <see cref="CkaStudy"/>: the table, how it was computed, and on how many samples.</summary>
public sealed record CkaStudyResult(CkaMatrix Table, CkaStudyMethod Method, int Samples, string Data, string RowModel, string ColumnModel);

/// <summary>
/// CKA between the layers of trained models on a data set: every pair of one model's layers (<c>Within</c>)
/// or model A's layers x model B's layers on the same inputs in the same order (<c>Cross</c>: two checkpoints
/// of one run, two seeds, two architectures). The selector may name the pseudo-layer <c>input</c>: the data itself
/// (flattened), which is no module's output. <see cref="MaxSamples"/> caps the samples (a seeded uniform choice, the
/// same rows for both models). <see cref="CkaStudyMethod.Auto"/> chooses full-data CKA when the captured matrices
/// fit in <see cref="FullDataBudgetBytes"/> (and RBF's n x n kernels in the Gram budget), else streaming minibatch CKA.
/// </summary>
/// <param name="Measure">The CKA estimator (kernel, bandwidth, debiasing); default linear, biased.</param>
/// <param name="Layers">Layer selector (see <see cref="LayerSelector"/>), plus the term <c>input</c>.</param>
/// <param name="Reduce">How feature maps become rows.</param>
/// <param name="MaxSamples">Use at most this many samples (seeded choice); null = all.</param>
/// <param name="Seed">Seeds the sample choice.</param>
/// <param name="Method">Full data, minibatch, or automatic.</param>
/// <param name="BatchSize">Samples per forward pass, and per minibatch in minibatch mode (at least 4).</param>
public sealed record CkaStudy(
    Cka? Measure = null,
    string Layers = "input,all",
    MapReduction Reduce = MapReduction.Mean,
    int? MaxSamples = null,
    int Seed = 0,
    CkaStudyMethod Method = CkaStudyMethod.Auto,
    int BatchSize = 256)
{
    /// <summary>The name of the pseudo-layer holding the model's input.</summary>
    public const string InputLayer = "input";

    /// <summary>Largest total size of captured float32 matrices the automatic choice keeps in memory (512 MiB).</summary>
    public const long FullDataBudgetBytes = 512L << 20;

    private Cka Estimator => Measure ?? new Cka();

    /// <summary>Stops the study between batches when cancelled.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Reports (stage, samples done, samples in all) while activations are captured; null = silent.</summary>
    public Action<string, long, long>? Progress { get; init; }

    /// <summary>
    /// The model input whose [N, T] rows mark each sample's real tokens (1) and padding (0), such as
    /// <c>attention_mask</c>: sequence sites of T tokens are pooled over the real tokens only (see
    /// <see cref="ActivationCapture.TokenMask"/>). Null: every token counts.
    /// </summary>
    public string? TokenMask { get; init; }

    /// <summary>The capture this study runs on one model (its progress stage named after <paramref name="model"/>).</summary>
    internal ActivationCapture Capture(LayerSelector? selector, string model) =>
        new(selector, Reduce, BatchSize: BatchSize)
        {
            Cancellation = Cancellation,
            Device = Device,
            TokenMask = TokenMask,
            Progress = Progress is { } report ? (done, total) => report($"capture {model}", done, total) : null,
        };

    /// <summary>Where the model runs when the study builds the source itself (a TorchSharp model or a run's checkpoints).</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;

    /// <summary>CKA between every pair of <paramref name="model"/>'s selected layers on <paramref name="data"/>.</summary>
    public CkaStudyResult Within(nn.Module<Tensor, Tensor> model, IDataset data)
    {
        using var source = new ModuleSource(model) { Device = Device };
        return Within(source, data);
    }

    /// <summary>CKA between every pair of an activation source's selected sites on <paramref name="data"/>.</summary>
    public CkaStudyResult Within(IActivationSource model, IDataset data)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (subset, selector, withInput) = Prepare(data);
        var names = LayerNames(model, subset, selector, withInput, out var widths);
        var method = Choose(subset.Count, widths.Sum(), names.Length);
        var capture = Capture(selector, "model");
        CkaMatrix table;
        if (method == CkaStudyMethod.Full)
        {
            var acts = Collect(capture, model, subset, withInput);
            table = Estimator.AllPairs(names, names.Select(n => acts[n]).ToArray());
        }
        else
        {
            using var acc = new MinibatchCka(names, Estimator.Kernel, Estimator.SigmaFrac);
            capture.Run(model, subset, new WithInput(acc, subset, withInput));
            table = acc.Result();
        }
        return new CkaStudyResult(table, method, subset.Count, data.Name, "model", "model");
    }

    /// <summary>
    /// Minibatch CKA sums over <paramref name="data"/> without forming the table: for one shard of a data set (a contiguous
    /// slice aligned to <see cref="BatchSize"/>, so the minibatches are those of one process over all samples). Merge the
    /// shards' states with <see cref="MinibatchCka.Absorb"/> and call <see cref="MinibatchCka.Result"/>.
    /// </summary>
    public MinibatchCkaState MinibatchState(IActivationSource model, IDataset data)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (MaxSamples != null) throw new ProbeException("A shard covers its own slice of the data; --max-samples cannot be combined with --shard.");
        var (subset, selector, withInput) = Prepare(data);
        var names = LayerNames(model, subset, selector, withInput, out _);
        var capture = Capture(selector, "model") with { Cancellation = default, Progress = null };
        using var acc = new MinibatchCka(names, Estimator.Kernel, Estimator.SigmaFrac);
        capture.Run(model, subset, new WithInput(acc, subset, withInput));
        return acc.State();
    }

    /// <summary>
    /// CKA between <paramref name="modelA"/>'s layers (rows) and <paramref name="modelB"/>'s layers (columns) on the
    /// same inputs; the selector is resolved on each model.
    /// </summary>
    public CkaStudyResult Cross(nn.Module<Tensor, Tensor> modelA, nn.Module<Tensor, Tensor> modelB, IDataset data,
                                string nameA = "A", string nameB = "B")
    {
        using var a = new ModuleSource(modelA) { Device = Device };
        using var b = new ModuleSource(modelB) { Device = Device };
        return Cross(a, b, data, nameA, nameB);
    }

    /// <summary>CKA between two activation sources' sites (rows: A, columns: B) on the same inputs.</summary>
    public CkaStudyResult Cross(IActivationSource modelA, IActivationSource modelB, IDataset data, string nameA = "A", string nameB = "B")
    {
        ArgumentNullException.ThrowIfNull(modelA);
        ArgumentNullException.ThrowIfNull(modelB);
        var (subset, selector, withInput) = Prepare(data);
        var rows = LayerNames(modelA, subset, selector, withInput, out var wa);
        var cols = LayerNames(modelB, subset, selector, withInput, out var wb);
        var method = Choose(subset.Count, wa.Sum() + wb.Sum(), rows.Length + cols.Length);
        CkaMatrix table;
        if (method == CkaStudyMethod.Full)
        {
            var a = Collect(Capture(selector, nameA), modelA, subset, withInput);
            var b = Collect(Capture(selector, nameB), modelB, subset, withInput);
            table = Estimator.Cross(rows, rows.Select(n => a[n]).ToArray(), cols, cols.Select(n => b[n]).ToArray());
        }
        else
        {
            // Lockstep: each chunk of samples goes through A then B, so the pairing buffer holds one batch at most.
            var capture = Capture(selector, "") with { Progress = null };
            using var acc = new MinibatchCka(rows, cols, Estimator.Kernel, Estimator.SigmaFrac);
            var rowSide = new WithInput(acc.RowModel, subset, withInput);
            var colSide = new WithInput(acc.ColumnModel, subset, withInput);
            for (int start = 0; start < subset.Count; start += BatchSize)
            {
                int n = Math.Min(BatchSize, subset.Count - start);
                var chunk = subset.Subset(Enumerable.Range(start, n).ToArray());
                rowSide.Offset = colSide.Offset = start;
                capture.Run(modelA, chunk, rowSide);
                capture.Run(modelB, chunk, colSide);
                Progress?.Invoke($"capture {nameA} and {nameB}", start + n, subset.Count);
            }
            table = acc.Result();
        }
        return new CkaStudyResult(table, method, subset.Count, data.Name, nameA, nameB);
    }

    /// <summary>The method <see cref="CkaStudyMethod.Auto"/> picks for this many samples, total width and layer count.</summary>
    public CkaStudyMethod Choose(int samples, long totalWidth, int layers)
    {
        if (Method != CkaStudyMethod.Auto) return Method;
        double bytes = 4.0 * samples * totalWidth;
        if (bytes > FullDataBudgetBytes) return CkaStudyMethod.Minibatch;
        if (Estimator.Kernel == CkaKernel.Rbf && 12.0 * layers * samples * samples > CkaEngine.GramBudgetBytes)
            return CkaStudyMethod.Minibatch;
        return CkaStudyMethod.Full;
    }

    internal (IDataset Subset, LayerSelector? Selector, bool WithInput) Prepare(IDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0) throw new ProbeException($"Data set '{data.Name}' has no samples.");
        if (BatchSize < 4) throw new ProbeException($"CKA needs batches of at least 4 samples, got {BatchSize}.");
        if (MaxSamples is int m && m < 4) throw new ProbeException($"CKA needs at least 4 samples, got a cap of {m}.");
        var terms = (Layers ?? "all").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool withInput = terms.Contains(InputLayer, StringComparer.Ordinal);
        var rest = terms.Where(t => t != InputLayer).ToArray();
        var selector = rest.Length == 0 ? null : new LayerSelector(string.Join(",", rest));
        if (selector == null && !withInput) throw new ProbeException("The layer selector is empty.");
        int[] rows = SampleChooser.Choose(data.Count, MaxSamples, Seed);
        var subset = rows.Length == data.Count ? data : data.Subset(rows);
        return (subset, selector, withInput);
    }

    /// <summary>Selected layer names in firing order (input first) and their widths, from a two-sample capture.</summary>
    internal string[] LayerNames(IActivationSource model, IDataset data, LayerSelector? selector, bool withInput, out long[] widths)
    {
        var names = new List<string>();
        var w = new List<long>();
        if (withInput) { names.Add(InputLayer); w.Add(data.SampleSize()); }
        if (selector != null)
        {
            var probe = (Capture(selector, "") with { BatchSize = 2, Cancellation = default, Progress = null }).ToMemory(model, data.Subset([0, Math.Min(1, data.Count - 1)]));
            foreach (var l in probe.Summary.Layers)
            {
                if (l.Name == InputLayer) throw new ProbeException($"The model has a layer named '{InputLayer}', which clashes with the input pseudo-layer; drop 'input' from the selector.");
                names.Add(l.Name); w.Add(l.Features);
            }
        }
        widths = w.ToArray();
        return names.ToArray();
    }

    internal static Dictionary<string, Matrix> Collect(ActivationCapture capture, IActivationSource model, IDataset data, bool withInput)
    {
        var acts = new Dictionary<string, Matrix>(StringComparer.Ordinal);
        if (withInput) acts[InputLayer] = data.ToMemory().Features;
        if (capture.Layers != null)
            foreach (var kv in capture.ToMemory(model, data).Outputs) acts[kv.Key] = kv.Value;
        return acts;
    }

    /// <summary>Adds the input rows of each batch as the pseudo-layer "input" before passing it on.</summary>
    private sealed class WithInput(IActivationConsumer inner, IDataset data, bool add) : IActivationConsumer
    {
        public int Offset { get; set; }

        public void OnBatch(ActivationBatch batch)
        {
            int at = Offset + batch.Offset;
            if (!add) { inner.OnBatch(batch with { Offset = at }); return; }
            var rows = new Matrix(batch.Count, data.SampleSize());
            data.ReadBatch(at, batch.Count, rows.Data);
            var outputs = new Dictionary<string, Matrix>(batch.Outputs) { [InputLayer] = rows };
            inner.OnBatch(batch with { Offset = at, Outputs = outputs });
        }

        public void OnEnd(IReadOnlyList<LayerInfo> layers) => inner.OnEnd(layers);
    }

    /// <summary>A one-line description of the result, e.g. "linear CKA, full data, 360 samples of digits".</summary>
    public static string Describe(CkaStudyResult r) =>
        string.Create(CultureInfo.InvariantCulture, $"{r.Table.Measure}; {(r.Method == CkaStudyMethod.Full ? "full data" : "minibatch")}; {r.Samples} samples of {r.Data}");
}

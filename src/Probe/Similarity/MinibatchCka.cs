using Probe.Capture;

namespace Probe.Similarity;

/// <summary>
/// Streaming minibatch CKA (Nguyen, Raghu and Kornblith 2021): for every pair of layers
/// sum_b HSIC1(K_b, L_b) / sqrt(sum_b HSIC1(K_b, K_b) sum_b HSIC1(L_b, L_b)), HSIC1 being the unbiased HSIC of
/// each batch with its own n. Per batch it forms each layer's kernel matrix once and every pair's HSIC1 with one
/// product G G' of the stacked U-centred kernels; memory depends on the batch size and the widths, never on the
/// number of samples. Batches with fewer than 4 rows cannot enter HSIC1 and are skipped (counted in
/// <see cref="SkippedSamples"/>).
/// Square use: one list of layers, fed via <see cref="OnBatch"/> or <see cref="Add(IReadOnlyDictionary{string, Matrix})"/>.
/// Cross use: row layers of model A and column layers of model B on the same inputs, fed via
/// <see cref="Add(IReadOnlyDictionary{string, Matrix}, IReadOnlyDictionary{string, Matrix})"/> or the two consumers
/// <see cref="RowModel"/> and <see cref="ColumnModel"/> (batches are paired by offset; a side that runs ahead is
/// buffered, so feed them batch by batch to keep memory flat).
/// </summary>
public sealed class MinibatchCka : IActivationConsumer, IDisposable
{
    private readonly string[] _rows, _cols;
    private readonly bool _cross;
    private GramWorkspace? _workspace;
    private int[] _widths = [];
    private readonly double[] _sum;
    private readonly int _count;
    private readonly Dictionary<int, (bool FromRow, Dictionary<string, Matrix> Acts)> _pending = new();

    /// <summary>Settings: the kernel (RBF takes its bandwidth from each batch's median distance) and precision.</summary>
    public CkaKernel Kernel { get; }
    public double SigmaFrac { get; }
    public CkaPrecision Precision { get; }
    public IReadOnlyList<string> RowLayers => _rows;
    public IReadOnlyList<string> ColumnLayers => _cols;
    /// <summary>Batches and samples that entered the estimate.</summary>
    public int Batches { get; private set; }
    public long Samples { get; private set; }
    /// <summary>Samples of batches too small (fewer than 4 rows) for the unbiased HSIC.</summary>
    public long SkippedSamples { get; private set; }

    /// <summary>Square (layer x layer) minibatch CKA over one model's layers.</summary>
    public MinibatchCka(IReadOnlyList<string> layers,
                        CkaKernel kernel = CkaKernel.Linear, double sigmaFrac = 0.4, CkaPrecision precision = CkaPrecision.Auto)
        : this(layers, null, kernel, sigmaFrac, precision) { }

    /// <summary>Cross minibatch CKA: <paramref name="rowLayers"/> of model A against <paramref name="colLayers"/> of model B.</summary>
    public MinibatchCka(IReadOnlyList<string> rowLayers, IReadOnlyList<string>? colLayers,
                        CkaKernel kernel = CkaKernel.Linear, double sigmaFrac = 0.4, CkaPrecision precision = CkaPrecision.Auto)
    {
        ArgumentNullException.ThrowIfNull(rowLayers);
        if (rowLayers.Count == 0) throw new ProbeException("Minibatch CKA needs at least one layer.");
        if (colLayers != null && colLayers.Count == 0) throw new ProbeException("Cross minibatch CKA needs at least one column layer.");
        if (!(sigmaFrac > 0) || !double.IsFinite(sigmaFrac)) throw new ProbeException($"The RBF bandwidth fraction must be a positive number, got {sigmaFrac}.");
        _rows = rowLayers.ToArray();
        _cross = colLayers != null;
        _cols = _cross ? colLayers!.ToArray() : _rows;
        Kernel = kernel; SigmaFrac = sigmaFrac; Precision = precision;
        _count = _rows.Length + (_cross ? _cols.Length : 0);
        _sum = new double[_count * _count];
        RowModel = new Side(this, true);
        ColumnModel = new Side(this, false);
    }

    /// <summary>For cross use: the consumer that receives model A's (row) activations.</summary>
    public IActivationConsumer RowModel { get; }
    /// <summary>For cross use: the consumer that receives model B's (column) activations.</summary>
    public IActivationConsumer ColumnModel { get; }

    /// <summary>Square use: takes the selected layers from a captured batch (outputs first, then inputs).</summary>
    public void OnBatch(ActivationBatch batch)
    {
        if (_cross) throw new ProbeException("This minibatch CKA compares two models: feed model A to RowModel and model B to ColumnModel, or call Add(a, b).");
        Add(Merge(batch));
    }

    private static Dictionary<string, Matrix> Merge(ActivationBatch batch)
    {
        var all = new Dictionary<string, Matrix>(batch.Outputs);
        foreach (var kv in batch.Inputs) all.TryAdd(kv.Key, kv.Value);
        return all;
    }

    /// <summary>Square use: one batch's activations of every layer (name -> batch x width).</summary>
    public void Add(IReadOnlyDictionary<string, Matrix> activations)
    {
        if (_cross) throw new ProbeException("This minibatch CKA compares two models: call Add(rowModel, columnModel).");
        Accumulate(Pick(activations, _rows, "the batch"));
    }

    /// <summary>Cross use: one batch of the same inputs through model A (row layers) and model B (column layers).</summary>
    public void Add(IReadOnlyDictionary<string, Matrix> rowModel, IReadOnlyDictionary<string, Matrix> columnModel)
    {
        if (!_cross) throw new ProbeException("This minibatch CKA compares the layers of one model: call Add(activations).");
        Accumulate(Pick(rowModel, _rows, "model A's batch").Concat(Pick(columnModel, _cols, "model B's batch")).ToArray());
    }

    private static Matrix[] Pick(IReadOnlyDictionary<string, Matrix> acts, string[] names, string what)
    {
        ArgumentNullException.ThrowIfNull(acts);
        var result = new Matrix[names.Length];
        for (int i = 0; i < names.Length; i++)
            if (!acts.TryGetValue(names[i], out result[i]!))
                throw new ProbeException($"Layer '{names[i]}' is missing from {what} (it has: {string.Join(", ", acts.Keys)}).");
        return result;
    }

    private void Accumulate(Matrix[] layers)
    {
        int n = layers[0].Rows;
        var names = _rows.Select(s => $"layer '{s}'").Concat(_cross ? _cols.Select(s => $"column layer '{s}'") : []).ToArray();
        if (_workspace == null)
        {
            var widths = layers.Select(l => l.Cols).ToArray();
            if (_widths.Length > 0 && !widths.SequenceEqual(_widths))
                throw new ProbeException($"This batch's layers have {string.Join(", ", widths)} columns but the sums absorbed have {string.Join(", ", _widths)}: a layer's width cannot change.");
            _widths = widths;
            if (_widths.Any(w => w == 0)) throw new ProbeException($"{names[Array.IndexOf(_widths, 0)]} has no columns.");
            _workspace = new GramWorkspace(_widths, Kernel, SigmaFrac, UseSingle(n));
        }
        for (int i = 0; i < layers.Length; i++)
        {
            if (layers[i].Cols != _widths[i])
                throw new ProbeException($"{names[i]} has {layers[i].Cols} columns in this batch but {_widths[i]} in the first: a layer's width cannot change.");
            if (layers[i].Rows != n)
                throw new ProbeException($"{names[i]} has {layers[i].Rows} rows in this batch but {names[0]} has {n}: all layers must describe the same samples.");
            layers[i].EnsureFinite($"{names[i]} (batch of {n} rows)");
        }
        if (n < 4) { SkippedSamples += n; return; }
        var m = _workspace.Products(layers, names, unbiased: true);
        double scale = 1.0 / ((double)n * (n - 3));
        for (int k = 0; k < _sum.Length; k++) _sum[k] += m[k] * scale;
        Batches++;
        Samples += n;
    }

    private bool UseSingle(int batchRows) => Precision switch
    {
        CkaPrecision.Single => true,
        CkaPrecision.Double => false,
        // Auto: float32 kernel products (on batch-centred data, U-centred and summed in double) once a batch's
        // products are large work; the tests bound their error against the double path.
        _ => Kernel == CkaKernel.Linear && (double)batchRows * batchRows * _widths.Sum() > CkaEngine.AutoSingleThresholdFlops / 20,
    };

    /// <summary>The table so far: rows x columns (square: layers x layers).</summary>
    public CkaMatrix Result()
    {
        if (Batches == 0)
            throw new ProbeException(SkippedSamples > 0
                ? $"Minibatch CKA saw only batches of fewer than 4 samples ({SkippedSamples} samples): use batches of at least 4."
                : "Minibatch CKA has seen no batches.");
        int offset = _cross ? _rows.Length : 0;
        // Every constant layer at once, so a caller can leave them all out and ask again.
        var constant = _rows.Where((_, i) => !(_sum[i * _count + i] > 0))
            .Concat(_cols.Where((_, j) => !(_sum[(j + offset) * _count + j + offset] > 0))).Distinct().ToList();
        if (constant.Count > 0) throw CkaMath.ConstantLayers(constant);
        var values = new double[_rows.Length][];
        for (int i = 0; i < _rows.Length; i++)
        {
            values[i] = new double[_cols.Length];
            for (int j = 0; j < _cols.Length; j++)
            {
                int c = j + offset;
                values[i][j] = CkaMath.Ratio(_sum[i * _count + c], _sum[i * _count + i], _sum[c * _count + c],
                    $"layer '{_rows[i]}'", $"layer '{_cols[j]}'");
            }
        }
        string kernel = Kernel == CkaKernel.Linear ? "linear" : $"RBF (sigma = {SigmaFrac.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)} x batch median distance)";
        return new CkaMatrix(_rows.ToArray(), _cols.ToArray(), values, $"minibatch {kernel} CKA (unbiased HSIC, {Batches} batches, {Samples} samples)");
    }

    /// <summary>The accumulated HSIC sums as plain data (for shards: each process saves them, <c>probe merge</c> adds them).</summary>
    public MinibatchCkaState State() => new(_rows.ToArray(), _cross ? _cols.ToArray() : null, Kernel, SigmaFrac, (double[])_sum.Clone(), Batches, Samples, SkippedSamples)
    {
        Widths = _widths.Length > 0 ? _widths.ToArray() : null,
    };

    /// <summary>
    /// Adds the sums of another accumulator over other minibatches of the same layers (a shard): the unbiased HSIC of each
    /// minibatch is summed, so the merged result is the one-process result up to the order of double additions.
    /// </summary>
    public void Absorb(MinibatchCkaState other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!other.RowLayers.SequenceEqual(_rows) || !(other.ColumnLayers ?? other.RowLayers).SequenceEqual(_cols) || (other.ColumnLayers != null) != _cross
            || other.Kernel != Kernel || other.SigmaFrac != SigmaFrac || other.Sums.Length != _sum.Length)
            throw new ProbeException("Cannot merge minibatch CKA sums of different layers or kernels; rerun the shards with the same model, --layers and kernel options.");
        // The same layers reduced another way (mean over positions vs flattened) have other widths: sums of no one run.
        if (other.Widths != null)
        {
            if (_widths.Length == 0) _widths = other.Widths.ToArray();
            else if (!other.Widths.SequenceEqual(_widths))
                throw new ProbeException($"Cannot merge minibatch CKA sums of layers of different widths ({string.Join(", ", _widths)} vs {string.Join(", ", other.Widths)} columns): rerun the shards with the same model and --reduce.");
        }
        for (int i = 0; i < _sum.Length; i++) _sum[i] += other.Sums[i];
        Batches += other.Batches;
        Samples += other.Samples;
        SkippedSamples += other.SkippedSamples;
    }

    /// <summary>An accumulator holding <paramref name="state"/>.</summary>
    public static MinibatchCka FromState(MinibatchCkaState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var acc = new MinibatchCka(state.RowLayers, state.ColumnLayers, state.Kernel, state.SigmaFrac);
        acc.Absorb(state);
        return acc;
    }

    /// <summary>Minibatch CKA of two matrices over consecutive batches of <paramref name="batchSize"/> rows.</summary>
    public static double Compute(Matrix x, Matrix y, int batchSize, CkaKernel kernel = CkaKernel.Linear,
                                 double sigmaFrac = 0.4, CkaPrecision precision = CkaPrecision.Auto)
    {
        CkaMath.ValidatePair(x, y, "the first matrix", "the second matrix", 4);
        if (batchSize < 4) throw new ProbeException($"Minibatch CKA needs batches of at least 4 rows, got {batchSize}.");
        using var acc = new MinibatchCka(["x"], ["y"], kernel, sigmaFrac, precision);
        for (int s = 0; s < x.Rows; s += batchSize)
        {
            int c = Math.Min(batchSize, x.Rows - s);
            acc.Add(new Dictionary<string, Matrix> { ["x"] = x.Slice(s, c) }, new Dictionary<string, Matrix> { ["y"] = y.Slice(s, c) });
        }
        return acc.Result().Values[0][0];
    }

    private void OnSide(bool fromRow, ActivationBatch batch)
    {
        if (!_cross) throw new ProbeException("RowModel and ColumnModel are for cross minibatch CKA; use OnBatch for one model.");
        var names = fromRow ? _rows : _cols;
        var acts = Merge(batch);
        // Copy now: the batch's matrices are valid only during this call.
        var copy = names.ToDictionary(nm => nm, nm => acts.TryGetValue(nm, out var m)
            ? new Matrix(m.Rows, m.Cols, (float[])m.Data.Clone())
            : throw new ProbeException($"Layer '{nm}' is missing from model {(fromRow ? "A" : "B")}'s batch at offset {batch.Offset}."));
        if (_pending.Remove(batch.Offset, out var other))
        {
            if (other.FromRow == fromRow)
                throw new ProbeException($"Model {(fromRow ? "A" : "B")} sent two batches at offset {batch.Offset}.");
            if (fromRow) Add(copy, other.Acts); else Add(other.Acts, copy);
        }
        else _pending[batch.Offset] = (fromRow, copy);
    }

    /// <summary>Pairs still waiting for the other model's batch.</summary>
    public int PendingBatches => _pending.Count;

    public void Dispose() => _workspace?.Dispose();

    private sealed class Side(MinibatchCka owner, bool fromRow) : IActivationConsumer
    {
        public void OnBatch(ActivationBatch batch) => owner.OnSide(fromRow, batch);
    }
}

/// <summary>The state of a <see cref="MinibatchCka"/>: layer names, kernel, and the summed per-minibatch HSIC matrix (row-major).</summary>
public sealed record MinibatchCkaState(string[] RowLayers, string[]? ColumnLayers, CkaKernel Kernel, double SigmaFrac, double[] Sums,
    int Batches, long Samples, long SkippedSamples)
{
    /// <summary>Each layer's columns (row layers, then column layers), once a batch was seen: states of different widths do not merge.</summary>
    public int[]? Widths { get; init; }
}

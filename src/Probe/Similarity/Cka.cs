using System.Globalization;
using Probe.Capture;
using Probe.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Similarity;

/// <summary>How the full-data linear CKA is evaluated (both are exact; Auto picks the cheaper).</summary>
public enum CkaForm
{
    /// <summary>The cheaper of the two, by multiply-add count (and the Gram form's memory).</summary>
    Auto,
    /// <summary>d x d cross-products: ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F) on centred columns.</summary>
    FeatureSpace,
    /// <summary>n x n kernel matrices.</summary>
    Gram,
}

/// <summary>
/// Centred kernel alignment (Kornblith et al. 2019) between representations of the same samples (rows).
/// <see cref="Debiased"/> uses the unbiased HSIC of Song et al. 2012. Settings only; call <see cref="Compute(Matrix, Matrix)"/>,
/// AllPairs or <see cref="Cross"/>. Each layer's products are formed once, not once per pair.
/// </summary>
public sealed record Cka(
    CkaKernel Kernel = CkaKernel.Linear,
    double SigmaFrac = 0.4,
    bool Debiased = false,
    CkaPrecision Precision = CkaPrecision.Auto,
    CkaForm Form = CkaForm.Auto)
{
    /// <summary>
    /// Where the linear kernel's feature-space products (X'X, Y'Y, X'Y) are formed: the CPU (OpenBLAS or libtorch,
    /// the default), <c>auto</c> (a CUDA device when this process's libtorch has one) or <c>cuda[:N]</c> (rows
    /// copied to the GPU a chunk at a time, products accumulated there in float64: <see cref="CkaDevice"/>). A CUDA
    /// request fails where libtorch has no CUDA, naming the package to reference. The n x n kernel forms (RBF,
    /// <see cref="CkaForm.Gram"/>) run on the CPU.
    /// </summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;

    /// <summary>For tests: form the products with the device engine on this libtorch device even when it is the CPU.</summary>
    internal torch.Device? EngineDevice { get; init; }

    // The libtorch device of the feature-space products, or null for the CPU engine.
    private torch.Device? ProductsDevice()
    {
        if (EngineDevice != null) return EngineDevice;
        if (Device.Kind == DeviceKind.Cpu) return null;
        var d = Device.Resolve();
        return d.IsCuda ? d.ToTorch() : null;
    }

    // ||X_p' X_q||_F^2 for each pair of centred layers, where Device says (CkaEngine on the CPU, CkaDevice on a GPU).
    private double[] CrossNormsSquared(IReadOnlyList<CkaRows> layers, IReadOnlyList<(int P, int Q)> pairs, bool single, double[]?[]? norms, int chunkRows) =>
        ProductsDevice() is { } device
            ? CkaDevice.CrossNormsSquared(layers, pairs, single, device, norms, chunkRows)
            : CkaEngine.CrossNormsSquared(layers, pairs, single, norms, chunkRows);

    /// <summary>A short name of the estimator, for tables and reports.</summary>
    public string Measure => Kernel == CkaKernel.Linear
        ? (Debiased ? "linear CKA (debiased)" : "linear CKA")
        : string.Create(CultureInfo.InvariantCulture, $"RBF CKA (sigma = {SigmaFrac:G6} x median distance){(Debiased ? " (debiased)" : "")}");

    /// <summary>CKA between two representations of the same samples.</summary>
    public double Compute(Matrix x, Matrix y) =>
        Table([x, y], ["the first matrix", "the second matrix"], [0], [1])[0][0];

    /// <summary>
    /// CKA between two streamed representations of the same samples, e.g. memory-mapped .npy files
    /// (<see cref="NpyDatasets.OpenNpy"/>), each sample flattened to one row. The linear feature-space form reads each
    /// input a chunk of rows at a time (twice: column means, then products), so neither is ever resident as a whole;
    /// the value equals <see cref="Compute(Matrix, Matrix)"/> on the same rows. The n x n kernel forms (RBF, or
    /// <see cref="CkaForm.Gram"/>) hold both inputs in memory.
    /// </summary>
    public double Compute(IDataset x, IDataset y) => Compute(x, y, 0);

    internal double Compute(IDataset x, IDataset y, int chunkRows)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        const string xw = "the first matrix", yw = "the second matrix";
        if (Kernel != CkaKernel.Linear || Form == CkaForm.Gram) return Compute(x.ToMemory().Features, y.ToMemory().Features);
        int minSamples = Debiased ? 4 : 2;
        int n = x.Count;
        foreach (var (d, w) in new[] { (x, xw), (y, yw) })
        {
            if (d.Count == 0 || d.SampleSize() == 0) throw new ProbeException($"{w} is empty ({d.Count} x {d.SampleSize()}).");
            if (d.Count < minSamples) throw new ProbeException($"{w} has {d.Count} sample(s); this CKA estimator needs at least {minSamples}.");
        }
        if (y.Count != n)
            throw new ProbeException($"{yw} has {y.Count} samples but {xw} has {n}: CKA compares representations of the same samples, row by row.");
        double da = x.SampleSize(), db = y.SampleSize();
        double flops = (double)n * (da * da + db * db + da * db);
        bool single = Precision switch
        {
            CkaPrecision.Single => true,
            CkaPrecision.Double => false,
            _ => !Debiased && flops > CkaEngine.AutoSingleThresholdFlops,
        };
        // No libtorch call here on the CPU: with OpenBLAS neither the float32 nor the float64 path loads it
        // (CrossNormsSquared scopes its own tensors).
        double[] s;
        double[][]? norms;
        using var rx = CkaRows.Of(x, xw);
        if (ReferenceEquals(x, y))
        {
            // One data set against itself: its products once, so the value is exactly 1 (see Table).
            norms = Debiased ? [new double[n]] : null;
            double self = CrossNormsSquared([rx], [(0, 0)], single, norms, chunkRows)[0];
            s = [self, self, self];
            if (norms != null) norms = [norms[0], norms[0]];
        }
        else
        {
            using var ry = CkaRows.Of(y, yw);
            norms = Debiased ? [new double[n], new double[n]] : null;
            s = CrossNormsSquared([rx, ry], [(0, 0), (1, 1), (0, 1)], single, norms, chunkRows);
        }
        if (!Debiased) return CkaMath.Ratio(s[2], s[0], s[1], xw, yw);
        return CkaMath.Ratio(CkaMath.LinearHsic1FromParts(s[2], norms![0], norms[1], n),
            CkaMath.LinearHsic1FromParts(s[0], norms[0], norms[0], n), CkaMath.LinearHsic1FromParts(s[1], norms[1], norms[1], n), xw, yw);
    }

    /// <summary>CKA between every pair of the given layers (symmetric, unit diagonal).</summary>
    public CkaMatrix AllPairs(IReadOnlyList<string> names, IReadOnlyList<Matrix> layers)
    {
        CheckNames(names, layers, "layer");
        var idx = Enumerable.Range(0, layers.Count).ToArray();
        return new CkaMatrix(names.ToArray(), names.ToArray(), Table(layers, Quote(names), idx, idx, names), Measure);
    }

    /// <summary>CKA between every pair of the given layers, keyed by name (in the dictionary's order).</summary>
    public CkaMatrix AllPairs(IReadOnlyList<KeyValuePair<string, Matrix>> layers) =>
        AllPairs(layers.Select(kv => kv.Key).ToArray(), layers.Select(kv => kv.Value).ToArray());

    /// <summary>CKA between every layer of one model (rows) and every layer of another (columns), same inputs.</summary>
    public CkaMatrix Cross(IReadOnlyList<string> rowNames, IReadOnlyList<Matrix> rowLayers,
                           IReadOnlyList<string> colNames, IReadOnlyList<Matrix> colLayers)
    {
        CheckNames(rowNames, rowLayers, "row layer");
        CheckNames(colNames, colLayers, "column layer");
        var all = rowLayers.Concat(colLayers).ToArray();
        var names = Quote(rowNames).Select(s => "row " + s).Concat(Quote(colNames).Select(s => "column " + s)).ToArray();
        var rows = Enumerable.Range(0, rowLayers.Count).ToArray();
        var cols = Enumerable.Range(rowLayers.Count, colLayers.Count).ToArray();
        return new CkaMatrix(rowNames.ToArray(), colNames.ToArray(), Table(all, names, rows, cols, [.. rowNames, .. colNames]), Measure);
    }

    /// <summary>
    /// For each layer, the index of the first layer with the same shape and the same values (itself when none): equal
    /// layers are one layer to the products.
    /// </summary>
    internal static int[] Canonical(IReadOnlyList<Matrix> layers)
    {
        var canon = new int[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            canon[i] = i;
            var a = layers[i];
            for (int j = 0; j < i; j++)
            {
                var b = layers[j];
                if (canon[j] != j || a.Rows != b.Rows || a.Cols != b.Cols) continue;
                int len = a.Rows * a.Cols;
                if (ReferenceEquals(a.Data, b.Data) || a.Data.AsSpan(0, len).SequenceEqual(b.Data.AsSpan(0, len))) { canon[i] = j; break; }
            }
        }
        return canon;
    }

    private static string[] Quote(IReadOnlyList<string> names) => names.Select(s => $"layer '{s}'").ToArray();

    private static void CheckNames(IReadOnlyList<string> names, IReadOnlyList<Matrix> layers, string what)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(layers);
        if (names.Count != layers.Count) throw new ProbeException($"Got {names.Count} {what} name(s) for {layers.Count} matrices.");
        if (layers.Count == 0) throw new ProbeException($"No {what}s to compare.");
    }

    /// <summary>
    /// Values[i][j] = CKA(layers[rows[i]], layers[cols[j]]), forming each layer's products once; <paramref name="names"/>
    /// describe the layers in messages, <paramref name="layerNames"/> (for a table of named layers) are their names: every
    /// constant one is then named at once in <see cref="ConstantLayerException.Layers"/>.
    /// </summary>
    private double[][] Table(IReadOnlyList<Matrix> layers, IReadOnlyList<string> names, int[] rows, int[] cols, IReadOnlyList<string>? layerNames = null)
    {
        int minSamples = Debiased ? 4 : 2;
        for (int i = 0; i < layers.Count; i++) CkaMath.Validate(layers[i], names[i], minSamples);
        int n = layers[0].Rows;
        for (int i = 1; i < layers.Count; i++)
            if (layers[i].Rows != n)
                throw new ProbeException($"{names[i]} has {layers[i].Rows} samples but {names[0]} has {n}: CKA compares representations of the same samples, row by row.");

        // A layer given twice (the same matrix, or equal values) is computed once: its cross term is then its self term,
        // so CKA of a layer with itself is exactly 1 whatever the products round (SSYRK and SGEMM round float32
        // differently with AVX-512 kernels).
        var canon = Canonical(layers);
        // Unordered pairs needed: every (row, col) and every diagonal.
        var involved = rows.Concat(cols).Select(i => canon[i]).Distinct().OrderBy(i => i).ToArray();
        var pairIndex = new Dictionary<(int, int), int>();
        var pairs = new List<(int P, int Q)>();
        int Pair(int a, int b)
        {
            (a, b) = (canon[a], canon[b]);
            var key = a <= b ? (a, b) : (b, a);
            if (!pairIndex.TryGetValue(key, out int k)) { k = pairs.Count; pairIndex[key] = k; pairs.Add(key); }
            return k;
        }
        foreach (int i in involved) Pair(i, i);
        foreach (int r in rows) foreach (int c in cols) Pair(r, c);

        double nn = n;
        double featureFlops = pairs.Sum(pq => nn * layers[pq.P].Cols * layers[pq.Q].Cols);
        double gramFlops = involved.Sum(i => nn * nn * layers[i].Cols) + 0.5 * involved.Length * involved.Length * nn * nn;
        double gramBytes = 12.0 * involved.Length * nn * nn; // float64 kernels (+ float32 staging)
        bool feature = Kernel == CkaKernel.Linear && Form switch
        {
            CkaForm.FeatureSpace => true,
            CkaForm.Gram => false,
            _ => featureFlops <= gramFlops || gramBytes > CkaEngine.GramBudgetBytes,
        };
        if (!feature && gramBytes > CkaEngine.GramBudgetBytes)
            throw new ProbeException(string.Create(CultureInfo.InvariantCulture,
                $"{Measure} on {n} samples needs {involved.Length} n x n kernel matrices ({gramBytes / (1 << 30):F1} GiB). Use fewer samples, the linear kernel, or MinibatchCka."));
        bool single = Precision switch
        {
            CkaPrecision.Single => true,
            CkaPrecision.Double => false,
            _ => !Debiased && Kernel == CkaKernel.Linear && (feature ? featureFlops : gramFlops) > CkaEngine.AutoSingleThresholdFlops,
        };

        Func<int, int, double> hsic;
        using (var scope = NewDisposeScope())
        {
            if (feature)
            {
                // Squared row norms only for the debiased estimator.
                var norms = new double[layers.Count][];
                if (Debiased) foreach (int i in involved) norms[i] = new double[n];
                var rowsOf = layers.Select((m, i) => CkaRows.Of(m, names[i])).ToArray();
                double[] s;
                try { s = CrossNormsSquared(rowsOf, pairs, single, norms, 0); }
                finally { foreach (var r in rowsOf) r.Dispose(); }
                hsic = Debiased
                    ? (a, b) => CkaMath.LinearHsic1FromParts(s[Pair(a, b)], norms[canon[a]], norms[canon[b]], n)
                    : (a, b) => s[Pair(a, b)];
            }
            else
            {
                var pos = new int[layers.Count];
                for (int k = 0; k < involved.Length; k++) pos[involved[k]] = k;
                using var ws = new GramWorkspace(involved.Select(i => layers[i].Cols).ToArray(), Kernel, SigmaFrac, single);
                var m = ws.Products(involved.Select(i => layers[i]).ToArray(), involved.Select(i => names[i]).ToArray(), Debiased);
                int len = involved.Length;
                hsic = (a, b) => m[pos[canon[a]] * len + pos[canon[b]]];
            }
        }

        // Every constant layer at once, so a caller can leave them all out and ask again.
        if (layerNames != null && rows.Concat(cols).Distinct().Where(i => !(hsic(i, i) > 0)).Select(i => layerNames[i]).Distinct().ToList() is { Count: > 0 } constant)
            throw CkaMath.ConstantLayers(constant);
        var values = new double[rows.Length][];
        for (int i = 0; i < rows.Length; i++)
        {
            values[i] = new double[cols.Length];
            for (int j = 0; j < cols.Length; j++)
            {
                int r = rows[i], c = cols[j];
                values[i][j] = CkaMath.Ratio(hsic(r, c), hsic(r, r), hsic(c, c), names[r], names[c]);
            }
        }
        return values;
    }
}

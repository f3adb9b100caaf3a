using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace Probe.Projection;

/// <summary>
/// The symmetric sparse input affinities P of t-SNE in CSR form (rows sorted by column), summing to 1:
/// conditional p(j|i) over the k = min(n - 1, floor(3 perplexity) + 1) nearest neighbours, calibrated by binary
/// search on squared Euclidean distances (as scikit-learn), then P = (P + P^T) / sum.
/// </summary>
public sealed record TsneAffinities(int Samples, int[] RowPointers, int[] Columns, double[] Values, int Neighbours)
{
    /// <summary>Above this many rows the kNN search runs blockwise in libtorch (float32 mm + topk), below it in managed SIMD code (<see cref="TsneKnn"/>, faster up to here as it skips libtorch's buffers).</summary>
    public const int TorchKnnThreshold = 20000;

    /// <summary>Computes P for the rows of <paramref name="x"/> (already reduced, e.g. by PCA-50).</summary>
    public static TsneAffinities Compute(Matrix x, double perplexity) => Compute(x, perplexity, out _);

    internal static TsneAffinities Compute(Matrix x, double perplexity, out double knnSeconds)
    {
        ArgumentNullException.ThrowIfNull(x);
        int n = x.Rows;
        int k = NeighbourCount(n, perplexity);
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        var (idx, d2) = n > TorchKnnThreshold ? TorchKnn(x, k) : TsneKnn.Search(x, k);
        knnSeconds = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
        var cond = new double[n * k];
        double target = Math.Log(perplexity);
        Parallel.For(0, n, i => Calibrate(d2.AsSpan(i * k, k), cond.AsSpan(i * k, k), target));
        return Symmetrize(n, k, idx, cond);
    }

    /// <summary>The number of neighbours used for a perplexity: min(n - 1, floor(3 perplexity) + 1).</summary>
    public static int NeighbourCount(int n, double perplexity) => (int)Math.Min(n - 1, Math.Floor(3 * perplexity) + 1);

    /// <summary>
    /// The precision beta giving the conditional distribution p_j ~ exp(-beta d2_j) the entropy log(perplexity), to
    /// 1e-5 (scikit-learn's tolerance): Newton steps on beta kept inside a bisection bracket (plain bisection or
    /// doubling when a step would leave it), at most 100 steps. Distances are shifted by their minimum first (p is
    /// unchanged, exp cannot underflow to an all-zero row).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Calibrate(ReadOnlySpan<double> d2, Span<double> p, double target)
    {
        int k = d2.Length;
        double dmin = double.PositiveInfinity, mean = 0;
        for (int j = 0; j < k; j++) dmin = Math.Min(dmin, d2[j]);
        for (int j = 0; j < k; j++) mean += d2[j] - dmin;
        mean /= k;
        double beta = mean > 0 ? 1.0 / mean : 1.0, lo = 0, hi = double.PositiveInfinity;
        for (int step = 0; step < 100; step++)
        {
            double sum = 0, m1 = 0, m2 = 0;
            for (int j = 0; j < k; j++)
            {
                double e = d2[j] - dmin, v = Math.Exp(-e * beta);
                p[j] = v; sum += v; m1 += v * e; m2 += v * e * e;
            }
            // sum >= 1: the nearest entry has e = 0
            double inv = 1.0 / sum;
            m1 *= inv; m2 *= inv;
            for (int j = 0; j < k; j++) p[j] *= inv;
            double diff = Math.Log(sum) + beta * m1 - target;
            if (Math.Abs(diff) <= 1e-5) break;
            if (diff > 0) lo = beta; else hi = beta;
            // dH/dbeta = -beta Var(e): Newton step beta + diff / (beta Var)
            double next = beta + diff / (beta * (m2 - m1 * m1));
            if (!(next > lo && next < hi)) next = double.IsPositiveInfinity(hi) ? beta * 2 : (lo + hi) / 2;
            beta = next;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static TsneAffinities Symmetrize(int n, int k, int[] idx, double[] cond)
    {
        // entries (i, j, p) and (j, i, p) for every kNN pair; counting sort by row, sort by column, merge duplicates.
        var counts = new int[n + 1];
        for (int i = 0; i < n; i++)
            for (int t = 0; t < k; t++) { counts[i + 1]++; counts[idx[i * k + t] + 1]++; }
        for (int i = 0; i < n; i++) counts[i + 1] += counts[i];
        var fill = (int[])counts.Clone();
        var cols = new int[counts[n]];
        var vals = new double[counts[n]];
        for (int i = 0; i < n; i++)
            for (int t = 0; t < k; t++)
            {
                int j = idx[i * k + t]; double v = cond[i * k + t];
                cols[fill[i]] = j; vals[fill[i]++] = v;
                cols[fill[j]] = i; vals[fill[j]++] = v;
            }
        var rowPtr = new int[n + 1];
        var outCols = new List<int>(cols.Length);
        var outVals = new List<double>(cols.Length);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            int s = counts[i], e = counts[i + 1];
            Array.Sort(cols, vals, s, e - s);
            for (int t = s; t < e; t++)
            {
                if (outCols.Count > rowPtr[i] && outCols[^1] == cols[t]) outVals[^1] += vals[t];
                else { outCols.Add(cols[t]); outVals.Add(vals[t]); }
            }
            rowPtr[i + 1] = outCols.Count;
        }
        var v2 = outVals.ToArray();
        foreach (var v in v2) total += v;
        total = Math.Max(total, double.Epsilon);
        for (int t = 0; t < v2.Length; t++) v2[t] /= total;
        return new TsneAffinities(n, rowPtr, outCols.ToArray(), v2, k);
    }

    /// <summary>
    /// kNN by blocks of rows: one float32 product per block gives the ranking keys ||x_j||^2 - 2 x_i.x_j directly
    /// (the data augmented by a column of squared norms against -2 x_i and a 1; ||x_i||^2 does not change the order),
    /// on the host's OpenBLAS SGEMM when it loads (about 1.7x libtorch's MKL SGEMM here; see OpenBlas) and on libtorch
    /// otherwise; then each row keeps its k + 8 smallest keys by a bounded heap behind a SIMD threshold
    /// (<see cref="TsneKnn.SmallestByHeap"/>, managed, all cores), and the candidates' squared distances are
    /// recomputed in double and re-ranked (ties by index). Exact except when float32 rounding pushes a true
    /// neighbour beyond the 8 spare candidates.
    /// </summary>
    internal static (int[] Idx, double[] D2) TorchKnn(Matrix x, int k)
    {
        int n = x.Rows, d = x.Cols;
        int cand = Math.Min(n - 1, k + 8);
        var idx = new int[(long)n * k];
        var d2 = new double[(long)n * k];
        // rows per block: at most 1024, and a key buffer under 1 GiB (one span over it must stay under 2 GiB)
        int block = (int)Math.Clamp((1L << 28) / n, 1, 1024);
        var pool = new System.Collections.Concurrent.ConcurrentBag<KnnScratch>();
        if (Similarity.OpenBlas.Available)
        {
            int w = d + 1;
            var left = GC.AllocateUninitializedArray<float>(checked(n * w), pinned: true);   // [-2 x_i, 1]
            var right = GC.AllocateUninitializedArray<float>(checked(n * w), pinned: true);  // [x_j, ||x_j||^2]
            Parallel.For(0, n, i =>
            {
                var row = x.Row(i);
                float sq = 0;
                for (int c = 0; c < d; c++) { left[i * w + c] = -2f * row[c]; right[i * w + c] = row[c]; sq += row[c] * row[c]; }
                left[i * w + d] = 1f; right[i * w + d] = sq;
            });
            // The key buffer (up to 1 GiB) in native memory, freed here: as a managed array it outlived the search
            // until a full collection and raised the peak of a 70,000-row t-SNE by 160 MiB.
            nint keys;
            unsafe { keys = (nint)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)Math.Min(block, n) * (nuint)n, sizeof(float)); }
            try
            {
                for (int s = 0; s < n; s += block)
                {
                    int b = Math.Min(block, n - s);
                    unsafe
                    {
                        fixed (float* l = left, r = right)
                            Similarity.OpenBlas.ProductWithTransposed(b, n, w, l + (long)s * w, w, r, w, (float*)keys, n);
                    }
                    Parallel.For(0, b, r =>
                    {
                        unsafe { SelectRow(x, s + r, new Span<float>((float*)keys + (long)r * n, n), k, cand, idx, d2, pool); }
                    });
                }
            }
            finally
            {
                unsafe { System.Runtime.InteropServices.NativeMemory.Free((void*)keys); }
            }
            return (idx, d2);
        }
        using (var scope = NewDisposeScope())
        {
            var xt = frombuffer(x.Data, ScalarType.Float32, (long)n * d, 0, false).view(n, d);
            var sq = xt.mul(xt).sum(new long[] { 1 }, keepdim: true);
            var right = cat(new[] { xt, sq }, 1);                          // [x_j, ||x_j||^2]
            var left = cat(new[] { xt.mul(-2f), ones(n, 1) }, 1);            // [-2 x_i, 1]
            var rightT = right.t();
            var buffer = empty(new long[] { Math.Min(block, n), n });        // reused: first touch of fresh memory is slow here
            for (int s = 0; s < n; s += block)
            {
                int b = Math.Min(block, n - s);
                using var inner = NewDisposeScope();
                buffer.narrow(0, 0, b).addmm_(left.narrow(0, s, b), rightT, beta: 0, alpha: 1);
                Parallel.For(0, b, r =>
                    SelectRow(x, s + r, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(buffer.bytes).Slice(r * n, n), k, cand, idx, d2, pool));
            }
        }
        return (idx, d2);
    }

    private sealed record KnnScratch(float[] HD, int[] HI, double[] D, int[] I);

    /// <summary>Row i's k nearest from its ranking keys (overwritten: its own key becomes +infinity).</summary>
    private static void SelectRow(Matrix x, int i, Span<float> keys, int k, int cand, int[] idx, double[] d2,
                                  System.Collections.Concurrent.ConcurrentBag<KnnScratch> pool)
    {
        if (!pool.TryTake(out var sc)) sc = new KnnScratch(new float[cand], new int[cand], new double[cand], new int[cand]);
        keys[i] = float.PositiveInfinity;
        int m = TsneKnn.SmallestByHeap(keys, cand, sc.HD, sc.HI);
        var xi = x.Row(i);
        for (int c = 0; c < m; c++) { sc.I[c] = sc.HI[c]; sc.D[c] = NearestNeighbours.SquaredDistance(xi, x.Row(sc.HI[c])); }
        NearestNeighbours.SelectSmallest(sc.D, sc.I, m, k);
        Array.Copy(sc.I, 0, idx, (long)i * k, k);
        Array.Copy(sc.D, 0, d2, (long)i * k, k);
        pool.Add(sc);
    }
}

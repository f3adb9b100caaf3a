using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Similarity;

/// <summary>
/// The fast paths of CKA on libtorch matrix products. Data are centred in double, the products run in float64 or
/// (for large biased linear work) float32 over row chunks whose results are accumulated in double.
/// </summary>
internal static class CkaEngine
{
    /// <summary>Largest n x n double Gram stack the full-data Gram path may hold.</summary>
    internal const long GramBudgetBytes = 3L << 29;
    /// <summary>Below this many multiply-adds, Auto keeps every product in double.</summary>
    internal const double AutoSingleThresholdFlops = 2e9;
    /// <summary>Rows per float32 product before its result is added to the double accumulator.</summary>
    internal const int SingleChunkRows = 2048;

    /// <summary>Writes the column-centred rows of <paramref name="x"/> into the first rows of a contiguous tensor.</summary>
    internal static void WriteCentred(Matrix x, Tensor target, double[]? rowNormsSquared = null) =>
        WriteCentred(x, target, x.Cols, 0, rowNormsSquared);

    /// <summary>Writes the column-centred rows of <paramref name="x"/> at columns [offset, offset + d) of rows of the given stride.</summary>
    internal static void WriteCentred(Matrix x, Tensor target, int stride, int offset, double[]? rowNormsSquared = null)
    {
        int n = x.Rows, d = x.Cols;
        var mean = CkaMath.ColumnMeans(x);
        var src = x.Data;
        if (target.dtype == ScalarType.Float32)
        {
            var dst = MemoryMarshal.Cast<byte, float>(target.bytes);
            for (int i = 0; i < n; i++)
            {
                double s = 0;
                int o = i * d, t = i * stride + offset;
                for (int j = 0; j < d; j++) { double v = src[o + j] - mean[j]; dst[t + j] = (float)v; s += v * v; }
                if (rowNormsSquared != null) rowNormsSquared[i] = s;
            }
        }
        else
        {
            var dst = MemoryMarshal.Cast<byte, double>(target.bytes);
            for (int i = 0; i < n; i++)
            {
                double s = 0;
                int o = i * d, t = i * stride + offset;
                for (int j = 0; j < d; j++) { double v = src[o + j] - mean[j]; dst[t + j] = v; s += v * v; }
                if (rowNormsSquared != null) rowNormsSquared[i] = s;
            }
        }
    }

    /// <summary>
    /// ||X_p' X_q||_F^2 for each requested pair (p &lt;= q) of layers, centred in double and stored side by side in
    /// one n x D tensor. For each layer p the partners q it needs are grouped into runs of adjacent columns, and each
    /// run is one product X_p' [X_q ... X_q'] (so all-pairs costs one product per layer, upper triangle only). In
    /// float32 the products go over chunks of rows and each chunk is added to a reused double accumulator.
    /// </summary>
    internal static double[] CrossNormsSquared(IReadOnlyList<Matrix> layers, IReadOnlyList<(int P, int Q)> pairs, bool single,
                                               double[]?[]? rowNormsSquared = null)
    {
        var result = new double[pairs.Count];
        if (pairs.Count == 0) return result;
        int n = layers[0].Rows;
        var used = pairs.SelectMany(pq => new[] { pq.P, pq.Q }).Distinct().OrderBy(i => i).ToArray();
        var offset = new int[layers.Count];
        int total = 0;
        foreach (int i in used) { offset[i] = total; total += layers[i].Cols; }
        var dtype = single ? ScalarType.Float32 : ScalarType.Float64;
        using var scope = NewDisposeScope();
        var z = empty(n, total, dtype);
        foreach (int i in used) WriteCentred(layers[i], z, total, offset[i], rowNormsSquared?[i]);

        // Runs: for each p, maximal groups of needed partners q that are adjacent in z.
        var byP = pairs.Select((pq, k) => (pq.P, pq.Q, k)).GroupBy(t => t.P).OrderBy(g => g.Key);
        var runs = new List<(int P, List<(int Q, int K)> Parts)>();
        foreach (var g in byP)
        {
            List<(int Q, int K)>? current = null;
            int next = -1;
            foreach (var (_, q, k) in g.OrderBy(t => offset[t.Q]))
            {
                if (current == null || offset[q] != next) { current = []; runs.Add((g.Key, current)); }
                current.Add((q, k));
                next = offset[q] + layers[q].Cols;
            }
        }
        long maxStrip = runs.Max(r => (long)layers[r.P].Cols * r.Parts.Sum(t => layers[t.Q].Cols));
        var acc = empty(maxStrip, dtype: ScalarType.Float64);
        var buf = single ? empty(maxStrip, dtype: ScalarType.Float32) : null;
        var strip = new double[maxStrip];
        foreach (var (p, parts) in runs)
        {
            int dp = layers[p].Cols, q0 = offset[parts[0].Q], w = parts.Sum(t => layers[t.Q].Cols);
            using var inner = NewDisposeScope();
            var a = acc.narrow(0, 0, (long)dp * w).view(dp, w);
            var xp = z.narrow(1, offset[p], dp);
            var xq = z.narrow(1, q0, w);
            if (!single) a.addmm_(xp.t(), xq, beta: 0, alpha: 1);
            else
            {
                var b = buf!.narrow(0, 0, (long)dp * w).view(dp, w);
                a.zero_();
                for (int s = 0; s < n; s += SingleChunkRows)
                {
                    int c = Math.Min(SingleChunkRows, n - s);
                    b.addmm_(xp.narrow(0, s, c).t(), xq.narrow(0, s, c), beta: 0, alpha: 1);
                    a.add_(b);
                }
            }
            MemoryMarshal.Cast<byte, double>(acc.bytes)[..(dp * w)].CopyTo(strip);
            int col = 0;
            foreach (var (q, k) in parts)
            {
                int dq = layers[q].Cols;
                double sum = 0;
                for (int i = 0; i < dp; i++)
                    for (int j = 0; j < dq; j++) { double v = strip[i * w + col + j]; sum += v * v; }
                result[k] = sum;
                col += dq;
            }
        }
        return result;
    }

    /// <summary>Median of all entries of a square tensor (mean of the two middle values for an even count).</summary>
    internal static double MedianAll(Tensor d)
    {
        using var scope = NewDisposeScope();
        var flat = d.reshape(-1);
        long total = flat.shape[0];
        if (total % 2 == 1) return flat.kthvalue(total / 2 + 1, 0).values.item<double>();
        var lo = flat.kthvalue(total / 2, 0).values.item<double>();
        var hi = flat.kthvalue(total / 2 + 1, 0).values.item<double>();
        return 0.5 * (lo + hi);
    }
}

/// <summary>
/// Reusable buffers that turn a set of layers (same samples) into the rows of a float64 matrix G whose row l is the
/// vectorised centred (biased) or U-centred (unbiased) kernel matrix of layer l, so that G G' holds every pair's
/// HSIC up to one common factor. Sized for the largest batch seen; smaller batches use views.
/// </summary>
internal sealed class GramWorkspace : IDisposable
{
    private readonly int[] _dims;
    private readonly CkaKernel _kernel;
    private readonly double _sigmaFrac;
    private readonly bool _single;
    private int _capacity;
    private Tensor? _g, _g32;
    private Tensor[] _x = [];

    public GramWorkspace(int[] dims, CkaKernel kernel, double sigmaFrac, bool singleGemm)
    {
        _dims = dims; _kernel = kernel; _sigmaFrac = sigmaFrac;
        _single = singleGemm && kernel == CkaKernel.Linear;
    }

    private void Ensure(int n)
    {
        if (n <= _capacity) return;
        DisposeBuffers();
        _capacity = n;
        var gemm = _single ? ScalarType.Float32 : ScalarType.Float64;
        // The buffers outlive the caller's dispose scope (a consumer is called inside ActivationCapture's per-batch
        // scope): detach them so only Dispose frees them.
        _g = empty((long)_dims.Length, (long)n * n, dtype: ScalarType.Float64).DetachFromDisposeScope();
        _g32 = _single ? empty((long)_dims.Length, (long)n * n, dtype: ScalarType.Float32).DetachFromDisposeScope() : null;
        _x = _dims.Select(d => empty(n, d, dtype: gemm).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>
    /// Forms every layer's kernel matrix K_l (same rows in all layers) and returns the L x L row-major matrix of
    /// &lt;U(K_p), U(K_q)&gt; (unbiased: n(n-3) HSIC1) or &lt;H K_p H, H K_q H&gt; (biased), all accumulated in double.
    /// Both come from one product G G' of the stacked raw kernels plus their row sums and diagonals:
    /// &lt;U(K), U(L)&gt; = tr(K~L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) (K~1)'(L~1) (Song et al. 2012), and
    /// &lt;HKH, HLH&gt; = &lt;K, L&gt; - 2/n (K1)'(L1) + (1'K1)(1'L1)/n^2.
    /// </summary>
    public double[] Products(IReadOnlyList<Matrix> layers, IReadOnlyList<string> names, bool unbiased)
    {
        int n = layers[0].Rows;
        Ensure(n);
        int count = layers.Count;
        long nn = (long)n * n;
        using var scope = NewDisposeScope();
        for (int l = 0; l < count; l++)
        {
            var x = _x[l];
            CkaEngine.WriteCentred(layers[l], x);
            var xs = x.narrow(0, 0, n);
            if (_single) _g32![l].narrow(0, 0, nn).view(n, n).addmm_(xs, xs.t(), beta: 0, alpha: 1);
            else
            {
                var k = _g![l].narrow(0, 0, nn).view(n, n);
                k.addmm_(xs, xs.t(), beta: 0, alpha: 1);
                if (_kernel == CkaKernel.Rbf) ToRbf(k, names[l]);
            }
        }
        var g = _g!.narrow(0, 0, count).narrow(1, 0, nn);
        if (_single) g.copy_(_g32!.narrow(0, 0, count).narrow(1, 0, nn));
        var m = mm(g, g.t()).contiguous();
        var k3 = g.view(count, n, n);
        var rows = k3.sum(new long[] { 2 }, type: ScalarType.Float64).contiguous();
        var diag = k3.diagonal(0, 1, 2).contiguous();
        var dot = MemoryMarshal.Cast<byte, double>(m.bytes);
        var r = MemoryMarshal.Cast<byte, double>(rows.bytes);
        var d = MemoryMarshal.Cast<byte, double>(diag.bytes);
        var result = new double[count * count];
        for (int p = 0; p < count; p++)
            for (int q = p; q < count; q++)
            {
                var rp = r.Slice(p * n, n); var rq = r.Slice(q * n, n);
                var dp = d.Slice(p * n, n); var dq = d.Slice(q * n, n);
                double v;
                if (unbiased)
                {
                    // K~ = K with zero diagonal: K~1 = r - d, 1'K~1 = sum(r - d), tr(K~L~) = <K, L> - d'd.
                    double dd = 0, cross = 0, sp = 0, sq = 0;
                    for (int i = 0; i < n; i++)
                    {
                        dd += dp[i] * dq[i];
                        cross += (rp[i] - dp[i]) * (rq[i] - dq[i]);
                        sp += rp[i] - dp[i]; sq += rq[i] - dq[i];
                    }
                    v = dot[p * count + q] - dd + sp * sq / ((double)(n - 1) * (n - 2)) - 2.0 / (n - 2) * cross;
                }
                else
                {
                    double cross = 0, sp = 0, sq = 0;
                    for (int i = 0; i < n; i++) { cross += rp[i] * rq[i]; sp += rp[i]; sq += rq[i]; }
                    v = dot[p * count + q] - 2.0 / n * cross + sp * sq / ((double)n * n);
                }
                result[p * count + q] = result[q * count + p] = v;
            }
        return result;
    }

    private void ToRbf(Tensor k, string name)
    {
        long n = k.shape[0];
        var r = k.diagonal().clone();
        k.mul_(-2).add_(r.unsqueeze(0)).add_(r.unsqueeze(1)).clamp_min_(0);
        k.diagonal().zero_();
        if (!(_sigmaFrac > 0) || !double.IsFinite(_sigmaFrac))
            throw new ProbeException($"The RBF bandwidth fraction must be a positive number, got {_sigmaFrac}.");
        double median = n == 1 ? 0 : CkaEngine.MedianAll(k);
        if (!(median > 0))
            throw new ProbeException($"The median squared distance between samples of {name} is 0 (at least half of the pairs coincide, e.g. a constant layer): the RBF bandwidth is undefined. Use the linear kernel or more varied samples.");
        double s2 = _sigmaFrac * _sigmaFrac * median;
        k.mul_(-1.0 / (2 * s2)).exp_();
    }

    private void DisposeBuffers()
    {
        _g?.Dispose(); _g32?.Dispose();
        foreach (var t in _x) t.Dispose();
        _g = null; _g32 = null; _x = [];
    }

    public void Dispose() => DisposeBuffers();
}

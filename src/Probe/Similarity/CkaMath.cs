namespace Probe.Similarity;

/// <summary>
/// Centred kernel alignment as plain double-precision functions on arrays (Kornblith et al. 2019; the unbiased
/// HSIC of Song et al. 2012). Square n x n matrices are row-major <c>double[n * n]</c>. These are the reference
/// implementations; <see cref="Cka"/> runs the same math on fast matrix products.
/// </summary>
public static class CkaMath
{
    /// <summary>Checks that a layer matrix can enter CKA: non-empty, finite, at least <paramref name="minSamples"/> rows.</summary>
    public static void Validate(Matrix x, string what, int minSamples = 2)
    {
        ArgumentNullException.ThrowIfNull(x);
        x.EnsureNotEmpty(what);
        x.EnsureFinite(what);
        if (x.Rows < minSamples)
            throw new ProbeException($"{what} has {x.Rows} sample(s); this CKA estimator needs at least {minSamples}.");
    }

    /// <summary>Checks two layers describe the same samples.</summary>
    public static void ValidatePair(Matrix x, Matrix y, string xWhat, string yWhat, int minSamples = 2)
    {
        Validate(x, xWhat, minSamples);
        Validate(y, yWhat, minSamples);
        if (x.Rows != y.Rows)
            throw new ProbeException($"{xWhat} has {x.Rows} samples but {yWhat} has {y.Rows}: CKA compares two representations of the same samples, row by row.");
    }

    /// <summary>Column means of <paramref name="x"/>, accumulated in double.</summary>
    public static double[] ColumnMeans(Matrix x)
    {
        int n = x.Rows, d = x.Cols;
        var mean = new double[d];
        // Column blocks on all cores, each column summed over the rows in order: the serial sum, bit for bit.
        unsafe
        {
            fixed (float* p = x.Data) CkaEngine.AddColumnSums(p, n, mean);
        }
        for (int j = 0; j < d; j++) mean[j] /= Math.Max(1, n);
        return mean;
    }

    /// <summary>The data with centred columns, in double (row-major n x d).</summary>
    public static double[] CentredColumns(Matrix x) => CentredWithSquares(x).Centred;

    /// <summary>
    /// The column-centred data in double (row-major) and its sum of squares, in two passes on all cores (the column
    /// means of <see cref="ColumnMeans"/>, then centre-and-square over row blocks whose sums are added in block order),
    /// so the result does not depend on the thread count.
    /// </summary>
    public static (double[] Centred, double SumOfSquares) CentredWithSquares(Matrix x)
    {
        int n = x.Rows, d = x.Cols;
        const int BlockRows = 256;
        int blocks = (n + BlockRows - 1) / BlockRows;
        var mean = ColumnMeans(x);
        // Every entry is written below: no need to clear it first.
        var c = GC.AllocateUninitializedArray<double>(checked(n * d));
        var squares = new double[blocks];
        Parallel.For(0, blocks, b => squares[b] = CentreBlock(x.Data, mean, c, b * BlockRows, Math.Min(n, (b + 1) * BlockRows), d));
        double total = 0;
        foreach (double v in squares) total += v;
        return (c, total);
    }

    /// <summary>Writes rows [i0, i1) of x - 1 mean' into c (double) and returns their sum of squares.</summary>
    private static unsafe double CentreBlock(float[] src, double[] mean, double[] c, int i0, int i1, int d)
    {
        double ss = 0;
        fixed (float* ps = src)
        fixed (double* pm = mean, pc = c)
            for (int i = i0; i < i1; i++) ss += CentreRow(ps + (long)i * d, pm, pc + (long)i * d, d);
        return ss;
    }

    /// <summary>
    /// t = x - mean for one row of <paramref name="d"/> values (float32 in, double out), returning the row's sum of
    /// squares (vector lanes summed at the end). The one centring loop of the float64 paths (CKA, CCA family,
    /// Procrustes).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static unsafe double CentreRow(float* x, double* mean, double* t, int d)
    {
        var acc = System.Numerics.Vector<double>.Zero;
        double ss = 0;
        int w = System.Numerics.Vector<double>.Count, j = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
            for (; j <= d - 2 * w; j += 2 * w)
            {
                System.Numerics.Vector.Widen(System.Numerics.Vector.Load(x + j), out var lo, out var hi);
                lo -= System.Numerics.Vector.Load(mean + j);
                hi -= System.Numerics.Vector.Load(mean + j + w);
                System.Numerics.Vector.Store(lo, t + j);
                System.Numerics.Vector.Store(hi, t + j + w);
                acc += lo * lo + hi * hi;
            }
        for (; j < d; j++)
        {
            double v = x[j] - mean[j];
            t[j] = v;
            ss += v * v;
        }
        return ss + System.Numerics.Vector.Sum(acc);
    }

    /// <summary>The linear Gram matrix X X^T of the column-centred data (equal to H K H for K = X X^T).</summary>
    public static double[] LinearGram(Matrix x)
    {
        int n = x.Rows, d = x.Cols;
        var c = CentredColumns(x);
        var k = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < d; t++) s += c[i * d + t] * c[j * d + t];
                k[i * n + j] = s; k[j * n + i] = s;
            }
        return k;
    }

    /// <summary>Squared Euclidean distances between all rows (n x n, zero diagonal).</summary>
    public static double[] SquaredDistances(Matrix x)
    {
        int n = x.Rows, d = x.Cols;
        var dist = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < d; t++) { double u = (double)x.Data[i * d + t] - x.Data[j * d + t]; s += u * u; }
                dist[i * n + j] = s; dist[j * n + i] = s;
            }
        return dist;
    }

    /// <summary>
    /// The median of all n^2 entries of a symmetric distance matrix with zero diagonal (the diagonal zeros count,
    /// as in Kornblith et al. 2019; for an even count the mean of the two middle values, as NumPy does).
    /// </summary>
    public static double MedianOfSquareMatrix(double[] dist, int n)
    {
        var upper = new double[(long)n * (n - 1) / 2];
        long p = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) upper[p++] = dist[i * n + j];
        return MedianWithDiagonal(upper, n);
    }

    /// <summary>Median of the multiset {n zeros} + each of <paramref name="upper"/> twice; sorts <paramref name="upper"/>.</summary>
    internal static double MedianWithDiagonal(double[] upper, int n)
    {
        Array.Sort(upper);
        long total = (long)n * n;
        double At(long k) => k < n ? 0.0 : upper[(k - n) / 2];
        // Distances are >= 0, so the n diagonal zeros come first in sorted order.
        return total % 2 == 1 ? At(total / 2) : 0.5 * (At(total / 2 - 1) + At(total / 2));
    }

    /// <summary>RBF bandwidth: sigma^2 = frac^2 x median of the squared pairwise distances (diagonal included).</summary>
    public static double RbfSigmaSquared(double[] squaredDistances, int n, double sigmaFrac, string what = "the layer")
    {
        if (!(sigmaFrac > 0) || !double.IsFinite(sigmaFrac))
            throw new ProbeException($"The RBF bandwidth fraction must be a positive number, got {sigmaFrac}.");
        double median = MedianOfSquareMatrix(squaredDistances, n);
        if (!(median > 0))
            throw new ProbeException($"The median squared distance between samples of {what} is 0 (at least half of the pairs coincide, e.g. a constant layer): the RBF bandwidth is undefined. Use the linear kernel or more varied samples.");
        return sigmaFrac * sigmaFrac * median;
    }

    /// <summary>The RBF Gram matrix exp(-d^2 / (2 sigma^2)) with sigma^2 from <see cref="RbfSigmaSquared"/>.</summary>
    public static double[] RbfGram(Matrix x, double sigmaFrac, string what = "the layer")
    {
        int n = x.Rows;
        var dist = SquaredDistances(x);
        double s2 = RbfSigmaSquared(dist, n, sigmaFrac, what);
        for (long i = 0; i < dist.Length; i++) dist[i] = Math.Exp(-dist[i] / (2 * s2));
        return dist;
    }

    /// <summary>Double centring H K H in place (H = I - 11'/n).</summary>
    public static void CentreGram(double[] k, int n)
    {
        var row = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int j = 0; j < n; j++) s += k[i * n + j];
            row[i] = s / n; total += s;
        }
        total /= (double)n * n;
        // H K H = K - r_i - c_j + m; for symmetric K the column means equal the row means.
        var col = new double[n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) col[j] += k[i * n + j];
        for (int j = 0; j < n; j++) col[j] /= n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) k[i * n + j] += total - row[i] - col[j];
    }

    /// <summary>
    /// U-centring in place (Szekely and Rizzo 2014): zero the diagonal, then for i != j subtract the off-diagonal
    /// row and column sums over (n - 2) and add the total over (n - 1)(n - 2). Then
    /// &lt;U(K), U(L)&gt; / (n(n - 3)) is the unbiased HSIC1 of Song et al. 2012. Needs n >= 4.
    /// </summary>
    public static void UCentreGram(double[] k, int n)
    {
        if (n < 4) throw new ProbeException($"The unbiased HSIC needs at least 4 samples, got {n}.");
        var row = new double[n];
        var col = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) k[i * n + i] = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) { double v = k[i * n + j]; row[i] += v; col[j] += v; total += v; }
        double a = 1.0 / (n - 2), b = total / ((double)(n - 1) * (n - 2));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                k[i * n + j] = i == j ? 0 : k[i * n + j] - a * (row[i] + col[j]) + b;
    }

    /// <summary>Frobenius inner product of two equal-length arrays, in double.</summary>
    public static double Dot(double[] a, double[] b)
    {
        if (a.Length != b.Length) throw new ProbeException($"Cannot take the inner product of arrays of {a.Length} and {b.Length} values.");
        double s = 0;
        for (long i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>The biased HSIC: tr(K H L H) / (n - 1)^2.</summary>
    public static double Hsic0(double[] k, double[] l, int n)
    {
        var kc = (double[])k.Clone(); CentreGram(kc, n);
        return Dot(kc, l) / ((double)(n - 1) * (n - 1));
    }

    /// <summary>
    /// The unbiased HSIC1 of Song et al. 2012, by its defining formula:
    /// [tr(K~L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)), K~ = K with zero diagonal.
    /// </summary>
    public static double Hsic1(double[] k, double[] l, int n)
    {
        if (n < 4) throw new ProbeException($"The unbiased HSIC needs at least 4 samples, got {n}.");
        double tr = 0, sk = 0, sl = 0, cross = 0;
        var rk = new double[n];
        var rl = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                double a = k[i * n + j], b = l[i * n + j];
                tr += a * b; sk += a; sl += b; rk[i] += a; rl[i] += b;
            }
        // 1'K~L~1 = (K~1)'(L~1) for symmetric K~.
        for (int i = 0; i < n; i++) cross += rk[i] * rl[i];
        return (tr + sk * sl / ((double)(n - 1) * (n - 2)) - 2.0 / (n - 2) * cross) / ((double)n * (n - 3));
    }

    /// <summary>CKA of two kernel matrices: biased (centred HSIC) or debiased (HSIC1).</summary>
    public static double GramCka(double[] k, double[] l, int n, bool debiased)
    {
        var kc = (double[])k.Clone();
        var lc = (double[])l.Clone();
        if (debiased) { UCentreGram(kc, n); UCentreGram(lc, n); }
        else { CentreGram(kc, n); CentreGram(lc, n); }
        return Ratio(Dot(kc, lc), Dot(kc, kc), Dot(lc, lc), "the first layer", "the second layer");
    }

    /// <summary>
    /// cross / sqrt(self_x self_y), with a clear error when either self-similarity vanishes. Every CKA here (biased,
    /// debiased, minibatch) is an inner product over the product of its two norms, so it lies in [-1, 1]
    /// (Cauchy–Schwarz); rounding can overshoot by an ulp (a layer against itself gave 1.0000000000000002), which is
    /// clamped back.
    /// </summary>
    public static double Ratio(double cross, double selfX, double selfY, string xWhat, string yWhat)
    {
        if (!(selfX > 0)) throw Constant(xWhat);
        if (!(selfY > 0)) throw Constant(yWhat);
        double v = cross / Math.Sqrt(selfX * selfY);
        if (!double.IsFinite(v)) throw new ProbeException($"CKA of {xWhat} and {yWhat} is not finite (values too large?).");
        return Math.Clamp(v, -1, 1);
    }

    internal static ConstantLayerException Constant(string what) =>
        new($"{what} is constant over the samples (zero variance, or no variation the estimator can see): the similarity is undefined for it. Drop the layer or use more varied samples.");

    /// <summary>The error for a table's layers whose self-similarity vanishes: every one of them named, in <see cref="ConstantLayerException.Layers"/> too.</summary>
    internal static ConstantLayerException ConstantLayers(IReadOnlyList<string> layers) =>
        new((layers.Count == 1 ? $"Layer '{layers[0]}' is" : $"Layers {string.Join(", ", layers.Select(l => $"'{l}'"))} are")
            + " constant over the samples (zero variance, or no variation the estimator can see): the similarity is undefined for "
            + (layers.Count == 1 ? "it. Drop the layer" : "them. Drop those layers") + " or use more varied samples.") { Layers = layers };

    /// <summary>Linear CKA in feature space: ||Yc'Xc||_F^2 / (||Xc'Xc||_F ||Yc'Yc||_F), or its debiased form.</summary>
    public static double LinearCkaFeatureSpace(Matrix x, Matrix y, bool debiased = false)
    {
        ValidatePair(x, y, "the first layer", "the second layer", debiased ? 4 : 2);
        int n = x.Rows;
        var xc = CentredColumns(x);
        var yc = CentredColumns(y);
        double sxy = CrossNormSquared(xc, x.Cols, yc, y.Cols, n);
        double sxx = CrossNormSquared(xc, x.Cols, xc, x.Cols, n);
        double syy = CrossNormSquared(yc, y.Cols, yc, y.Cols, n);
        if (!debiased) return Ratio(sxy, sxx, syy, "the first layer", "the second layer");
        var dx = RowNormsSquared(xc, x.Cols, n);
        var dy = RowNormsSquared(yc, y.Cols, n);
        return Ratio(LinearHsic1FromParts(sxy, dx, dy, n), LinearHsic1FromParts(sxx, dx, dx, n), LinearHsic1FromParts(syy, dy, dy, n),
            "the first layer", "the second layer");
    }

    /// <summary>
    /// HSIC1 of two linear kernels of column-centred data from ||Xc'Yc||_F^2 and the squared row norms:
    /// K~1 = -diag(K) when the columns are centred, so every term reduces to O(n) sums.
    /// </summary>
    public static double LinearHsic1FromParts(double crossNormSquared, ReadOnlySpan<double> dk, ReadOnlySpan<double> dl, int n)
    {
        if (n < 4) throw new ProbeException($"The unbiased HSIC needs at least 4 samples, got {n}.");
        double tk = 0, tl = 0, dd = 0;
        for (int i = 0; i < n; i++) { tk += dk[i]; tl += dl[i]; dd += dk[i] * dl[i]; }
        double tr = crossNormSquared - dd;
        return (tr + tk * tl / ((double)(n - 1) * (n - 2)) - 2.0 / (n - 2) * dd) / ((double)n * (n - 3));
    }

    /// <summary>Linear CKA through the n x n Gram matrices (biased or debiased).</summary>
    public static double LinearCkaGram(Matrix x, Matrix y, bool debiased = false)
    {
        ValidatePair(x, y, "the first layer", "the second layer", debiased ? 4 : 2);
        return GramCka(LinearGram(x), LinearGram(y), x.Rows, debiased);
    }

    /// <summary>RBF CKA through the n x n Gram matrices (biased or debiased).</summary>
    public static double RbfCka(Matrix x, Matrix y, double sigmaFrac, bool debiased = false)
    {
        ValidatePair(x, y, "the first layer", "the second layer", debiased ? 4 : 2);
        return GramCka(RbfGram(x, sigmaFrac, "the first layer"), RbfGram(y, sigmaFrac, "the second layer"), x.Rows, debiased);
    }

    /// <summary>Squared row norms of a row-major n x d array.</summary>
    public static double[] RowNormsSquared(double[] c, int d, int n)
    {
        var r = new double[n];
        for (int i = 0; i < n; i++) { double s = 0; for (int t = 0; t < d; t++) { double v = c[i * d + t]; s += v * v; } r[i] = s; }
        return r;
    }

    /// <summary>||A'B||_F^2 for row-major n x da and n x db arrays.</summary>
    public static double CrossNormSquared(double[] a, int da, double[] b, int db, int n)
    {
        var m = new double[da * db];
        for (int i = 0; i < n; i++)
            for (int p = 0; p < da; p++)
            {
                double v = a[i * da + p];
                if (v == 0) continue;
                int o = p * db, ob = i * db;
                for (int q = 0; q < db; q++) m[o + q] += v * b[ob + q];
            }
        return Dot(m, m);
    }
}

/// <summary>
/// A layer (or matrix) is constant over the samples, so no similarity to it is defined: thrown by every measure that
/// meets one. A model whose layer is all dead has one (a ReLU layer of zeros, and every layer after it, fed nothing
/// but its biases), which a caller that runs several analyses may leave out of its similarity while keeping the rest.
/// </summary>
public sealed class ConstantLayerException(string message) : ProbeException(message)
{
    /// <summary>The layers of a table found constant (all of them, when a table was computed); empty for two matrices.</summary>
    public IReadOnlyList<string> Layers { get; init; } = [];
}

using System.Runtime.InteropServices;
using static TorchSharp.torch;
using Probe.Native;

namespace Probe.Similarity;

/// <summary>
/// Procrustes similarity (see <see cref="SimilarityMath.Procrustes"/>): <see cref="SimilarityScore.Value"/> is the
/// similarity s; <see cref="SimilarityScore.Details"/> holds similarity, distance sqrt(2 - 2s) and angular arccos(s).
/// </summary>
public sealed record ProcrustesMeasure : SimilarityMeasure
{
    public override string Name => "procrustes";
    public override string Description => "Procrustes similarity";

    /// <summary>
    /// Column-centred data scaled to unit Frobenius norm (row-major, double), or, when it has more columns than rows,
    /// an n x r factor F with F F' = X~ X~' (the eigenvectors of the n x n Gram matrix scaled by the square roots of its
    /// eigenvalues). X~ = F W' for some W with orthonormal columns, so X~' Y~ = W (F' G) V' has the singular values of
    /// F' G: the nuclear norm is the same, and a 500-sample layer of 12,544 values costs a 500 x 500 product, not
    /// 12,544 x 12,544.
    /// </summary>
    /// <remarks><see cref="Scale"/> = 1 / ||X~||_F is applied to the nuclear norm at the end (it is homogeneous), so
    /// the data are not rescaled in a pass of their own.</remarks>
    internal sealed record Normalised(int Rows, int Cols, double[] Data, double Scale);

    internal override object Prepare(Matrix x, string what)
    {
        Check(x, what);
        var (c, ss) = CkaMath.CentredWithSquares(x);
        if (!(ss > 0)) throw CkaMath.Constant(what);
        double scale = 1 / Math.Sqrt(ss);
        if (x.Cols <= x.Rows) return new Normalised(x.Rows, x.Cols, c, scale);
        using var scope = NewDisposeScope();
        var t = tensor(c, [x.Rows, x.Cols]);
        var (values, vectors) = linalg.eigh(mm(t, t.t()));
        var f = vectors * values.clamp_min(0).sqrt().unsqueeze(0);
        return new Normalised(x.Rows, x.Rows, f.Values<double>(), scale);
    }


    internal override SimilarityScore Compare(object a, object b, string xWhat, string yWhat)
    {
        var x = (Normalised)a;
        var y = (Normalised)b;
        double s;
        if (OpenBlas.DoubleAvailable)
        {
            // The host's OpenBLAS, as NumPy uses it: X~'Y~ by DGEMM, its singular values by LAPACK's dgesdd (no libtorch).
            var m = new double[(long)x.Cols * y.Cols];
            unsafe
            {
                fixed (double* px = x.Data, py = y.Data, pm = m)
                    OpenBlas.TransposedProduct(x.Cols, y.Cols, x.Rows, px, py, pm);
            }
            s = NuclearNorm(m, x.Cols, y.Cols);
        }
        else
            using (NewDisposeScope())
            {
                var m = mm(tensor(x.Data, [x.Rows, x.Cols]).t(), tensor(y.Data, [y.Rows, y.Cols]));
                s = linalg.svdvals(m).sum().item<double>();
            }
        return Score(s * x.Scale * y.Scale);
    }

    /// <summary>
    /// The nuclear norm of the row-major m x n matrix <paramref name="m"/> (overwritten by the SVD path): the sum of
    /// the square roots of the eigenvalues of its smaller Gram matrix G (DSYRK and LAPACK's dsyevd, about half the time
    /// of the SVD at 1,024 x 1,024) when that sum is provably within 1e-7 (relative) of the exact one, else the sum of
    /// LAPACK's singular values.
    /// </summary>
    /// <remarks>
    /// Error bound: forming G in floating point and a backward-stable eigensolver perturb each eigenvalue by at most
    /// delta = eps (k ||M||_F^2 + 10 p lambda_max) (Weyl; k the inner dimension, p the order of G). An eigenvalue
    /// lambda off by delta moves its square root by at most min(delta / (2 sqrt(lambda)), sqrt(delta)), so the sum's
    /// error is at most the sum of those terms; the Gram path is used when that bound is below 1e-7 of the sum (the errors seen are near 1e-14). Well
    /// conditioned matrices pass easily; a matrix with many tiny singular values falls back to the SVD.
    /// </remarks>
    internal static double NuclearNorm(double[] m, int rows, int cols)
    {
        if (OpenBlas.GramAvailable)
        {
            // M' M when M is tall, else M M' (the Gram matrix of the transpose).
            int k = Math.Max(rows, cols), p = Math.Min(rows, cols);
            var values = rows >= cols ? OpenBlas.GramEigenvalues(m, rows, cols) : OpenBlas.GramEigenvalues(Transpose(m, rows, cols), cols, rows);
            double max = values[^1], trace = 0;
            foreach (double v in values) trace += Math.Max(0, v);
            double delta = double.Epsilon + Math.Pow(2, -52) * (k * trace + 10.0 * p * Math.Max(0, max));
            double sum = 0, bound = 0;
            for (int i = values.Length - 1; i >= 0; i--)
            {
                double s = Math.Sqrt(Math.Max(0, values[i]));
                sum += s;
                bound += s > 0 ? Math.Min(delta / (2 * s), Math.Sqrt(delta)) : Math.Sqrt(delta);
            }
            if (max > 0 && bound <= 1e-7 * sum) return sum;
        }
        double total = 0;
        foreach (double v in OpenBlas.SingularValues(m, rows, cols)) total += v;
        return total;
    }

    private static double[] Transpose(double[] m, int rows, int cols)
    {
        var t = new double[m.LongLength];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[(long)j * rows + i] = m[(long)i * cols + j];
        return t;
    }

    internal SimilarityScore Score(double nuclear)
    {
        double s = Math.Clamp(nuclear, 0, 1);
        var details = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["similarity"] = s,
            ["distance"] = Math.Sqrt(Math.Max(0, 2 - 2 * s)),
            ["angular"] = Math.Acos(s),
        };
        return new SimilarityScore(Name, s, details);
    }
}

/// <summary>Mutual k-nearest-neighbour alignment (see <see cref="SimilarityMath.MutualKnn"/>) with <see cref="K"/> neighbours.</summary>
public sealed record MutualKnnMeasure(int K = MutualKnnMeasure.DefaultK) : SimilarityMeasure
{
    /// <summary>platonic-rep's default (Huh et al. 2024).</summary>
    public const int DefaultK = 10;

    /// <summary>Most float64 similarity values held at once while finding neighbours (a block of rows x all rows).</summary>
    internal const long BlockValues = 1L << 22;

    public override string Name => "mutual-knn";
    public override string Description => $"mutual {K}-NN";
    public override int MinSamples => K + 1;

    /// <summary>Each row's K neighbours, sorted by index (n x K, row-major).</summary>
    internal sealed record Neighbours(int Rows, int[] Indices);

    internal override object Prepare(Matrix x, string what)
    {
        if (K < 1) throw new ProbeException($"Mutual k-NN needs k >= 1, got {K}.");
        Check(x, what);
        return new Neighbours(x.Rows, NearestNeighbours(x, K));
    }

    /// <summary>
    /// The <paramref name="k"/> rows with the largest inner product of L2-normalised rows (zero rows stay zero), the
    /// row itself excluded, ties to the lower index (similarities compared on <see cref="RsaMeasure.TieGrid"/>'s grid, so
    /// that values equal in exact arithmetic tie); found block by block (never an n x n matrix), in float64.
    /// Each row's list is returned sorted by index.
    /// </summary>
    internal static int[] NearestNeighbours(Matrix x, int k, int? blockRows = null)
    {
        int n = x.Rows, p = x.Cols;
        if (k > n - 1) throw new ProbeException($"Mutual k-NN with k = {k} needs at least {k + 1} samples, got {n}.");
        var z = new double[(long)n * p];
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int j = 0; j < p; j++) { double v = x.Data[i * p + j]; s += v * v; }
            double inv = s > 0 ? 1 / Math.Sqrt(s) : 0;
            for (int j = 0; j < p; j++) z[(long)i * p + j] = x.Data[i * p + j] * inv;
        }
        var result = new int[(long)n * k];
        int block = blockRows ?? (int)Math.Clamp(BlockValues / n, 1, n);
        if (block < 1 || block > n) throw new ArgumentOutOfRangeException(nameof(blockRows), block, "A block holds 1 to n rows.");
        var bestV = new double[k];
        var bestI = new int[k];
        using var scope = NewDisposeScope();
        var all = tensor(z, [n, p]);
        var buffer = empty(block, n, dtype: ScalarType.Float64);
        for (int start = 0; start < n; start += block)
        {
            int rows = Math.Min(block, n - start);
            using var inner = NewDisposeScope();
            var sims = buffer.narrow(0, 0, rows);
            sims.addmm_(all.narrow(0, start, rows), all.t(), beta: 0, alpha: 1);
            var span = MemoryMarshal.Cast<byte, double>(buffer.bytes);
            for (int r = 0; r < rows; r++)
            {
                int i = start + r, count = 0;
                var row = span.Slice(r * n, n);
                for (int j = 0; j < n; j++)
                {
                    if (j == i) continue;
                    // Snapped to the tie grid, as RSA's RDM entries: rows that point the same way in exact arithmetic
                    // (ReLU rows with one active unit, scalar multiples) tie, and the tie goes to the lower index,
                    // however x * (1 / |x|) was rounded (49 * (1 / 49) is 1 - 2^-53).
                    double v = Math.Round(row[j] * RsaMeasure.TieGrid) / RsaMeasure.TieGrid;
                    if (count == k && !(v > bestV[k - 1])) continue; // equal values keep the earlier (lower) index
                    int pos = count < k ? count++ : k - 1;
                    while (pos > 0 && v > bestV[pos - 1]) { bestV[pos] = bestV[pos - 1]; bestI[pos] = bestI[pos - 1]; pos--; }
                    bestV[pos] = v; bestI[pos] = j;
                }
                var dst = result.AsSpan((int)((long)i * k), k);
                bestI.AsSpan(0, k).CopyTo(dst);
                dst.Sort();
            }
        }
        return result;
    }

    internal override SimilarityScore Compare(object a, object b, string xWhat, string yWhat)
    {
        var x = (Neighbours)a;
        var y = (Neighbours)b;
        if (x.Rows != y.Rows) throw new ProbeException($"{xWhat} has {x.Rows} samples but {yWhat} has {y.Rows}.");
        long shared = 0;
        for (int i = 0; i < x.Rows; i++)
        {
            var p = x.Indices.AsSpan(i * K, K);
            var q = y.Indices.AsSpan(i * K, K);
            int s = 0, t = 0;
            while (s < K && t < K)
            {
                if (p[s] == q[t]) { shared++; s++; t++; }
                else if (p[s] < q[t]) s++;
                else t++;
            }
        }
        return new SimilarityScore(Name, (double)shared / ((double)x.Rows * K), SimilarityScore.None);
    }
}

/// <summary>Representational similarity analysis (see <see cref="SimilarityMath.Rsa"/>): Spearman correlation of the two RDMs.</summary>
public sealed record RsaMeasure : SimilarityMeasure
{
    public override string Name => "rsa";
    public override string Description => "RSA (Spearman of correlation-distance RDMs)";
    public override (double Min, double Max) Range => (-1, 1);
    public override int MinSamples => 3;

    /// <summary>The ranks of the strict upper triangle of the RDM, centred and scaled to unit norm.</summary>
    internal sealed record RankVector(int Rows, double[] Ranks);

    internal override object Prepare(Matrix x, string what)
    {
        Check(x, what);
        int n = x.Rows;
        if ((long)n * (n - 1) / 2 > Array.MaxLength)
            throw new ProbeException($"RSA on {n} samples needs {(long)n * (n - 1) / 2} RDM entries, more than one array holds; use at most 46,000 samples.");
        var rdm = UpperRdm(x, what);
        var ranks = AverageRanks(rdm);
        double mean = (rdm.Length + 1) / 2.0, ss = 0;
        for (long i = 0; i < ranks.Length; i++) { ranks[i] -= mean; ss += ranks[i] * ranks[i]; }
        if (!(ss > 0))
            throw new ProbeException($"Every entry of the RDM of {what} is the same (all samples equally correlated): the Spearman correlation is undefined for it.");
        double inv = 1 / Math.Sqrt(ss);
        for (long i = 0; i < ranks.Length; i++) ranks[i] *= inv;
        return new RankVector(n, ranks);
    }

    internal override SimilarityScore Compare(object a, object b, string xWhat, string yWhat)
    {
        var x = (RankVector)a;
        var y = (RankVector)b;
        if (x.Rows != y.Rows) throw new ProbeException($"{xWhat} has {x.Rows} samples but {yWhat} has {y.Rows}.");
        double s = 0;
        for (long i = 0; i < x.Ranks.Length; i++) s += x.Ranks[i] * y.Ranks[i];
        return new SimilarityScore(Name, Math.Clamp(s, -1, 1), SimilarityScore.None);
    }

    /// <summary>RDM entries are snapped to multiples of 1 / TieGrid (2^-40, about 1e-12) before ranking, so entries that
    /// are equal in exact arithmetic (ReLU rows with a single active unit, duplicated rows) tie however the products
    /// were rounded.</summary>
    internal const double TieGrid = 1099511627776.0;

    /// <summary>1 - Pearson correlation between rows (snapped to the tie grid), strict upper triangle in row order ((0,1), (0,2), ..., (1,2), ...).</summary>
    internal static double[] UpperRdm(Matrix x, string what)
    {
        int n = x.Rows, p = x.Cols;
        var z = new double[(long)n * p];
        for (int i = 0; i < n; i++)
        {
            double mean = 0;
            for (int j = 0; j < p; j++) mean += x.Data[i * p + j];
            mean /= p;
            double ss = 0;
            for (int j = 0; j < p; j++) { double v = x.Data[i * p + j] - mean; z[(long)i * p + j] = v; ss += v * v; }
            if (!(ss > 0))
                throw new ProbeException($"Row {i} of {what} is constant (all its values are equal): its correlation with other samples is undefined, so RSA cannot use it. Drop such samples or use another measure.");
            double inv = 1 / Math.Sqrt(ss);
            for (int j = 0; j < p; j++) z[(long)i * p + j] *= inv;
        }
        var rdm = new double[(long)n * (n - 1) / 2];
        int block = (int)Math.Clamp(MutualKnnMeasure.BlockValues / n, 1, n);
        using var scope = NewDisposeScope();
        var all = tensor(z, [n, p]);
        var buffer = empty(block, n, dtype: ScalarType.Float64);
        long at = 0;
        for (int start = 0; start < n - 1; start += block)
        {
            int rows = Math.Min(block, n - 1 - start);
            buffer.narrow(0, 0, rows).addmm_(all.narrow(0, start, rows), all.t(), beta: 0, alpha: 1);
            var span = MemoryMarshal.Cast<byte, double>(buffer.bytes);
            for (int r = 0; r < rows; r++)
            {
                int i = start + r;
                var row = span.Slice(r * n, n);
                for (int j = i + 1; j < n; j++) rdm[at++] = Math.Round((1 - row[j]) * TieGrid) / TieGrid;
            }
        }
        return rdm;
    }

    /// <summary>Ranks 1..N of the values, ties given the average of the ranks they span (SciPy's rankdata 'average').</summary>
    internal static double[] AverageRanks(double[] values)
    {
        int len = values.Length;
        var keys = (double[])values.Clone();
        var order = new int[len];
        for (int i = 0; i < len; i++) order[i] = i;
        Array.Sort(keys, order);
        var ranks = new double[len];
        for (int i = 0; i < len;)
        {
            int j = i + 1;
            while (j < len && keys[j] == keys[i]) j++;
            double r = (i + 1 + j) / 2.0; // average of ranks i+1 .. j
            for (int t = i; t < j; t++) ranks[order[t]] = r;
            i = j;
        }
        return ranks;
    }
}

/// <summary>CKA as a <see cref="SimilarityMeasure"/> (linear and biased unless <see cref="Estimator"/> says otherwise).</summary>
public sealed record CkaMeasure(Cka? Estimator = null) : SimilarityMeasure
{
    /// <summary>The CKA estimator (linear, biased when <see cref="Estimator"/> is null).</summary>
    public Cka Settings => Estimator ?? new Cka();
    public override string Name => "cka";
    public override string Description => Settings.Measure;
    public override (double Min, double Max) Range => (0, 1);
    public override int MinSamples => Settings.Debiased ? 4 : 2;

    internal override object Prepare(Matrix x, string what)
    {
        Check(x, what);
        return x;
    }

    internal override SimilarityScore Compare(object x, object y, string xWhat, string yWhat) =>
        new(Name, Settings.Compute((Matrix)x, (Matrix)y), SimilarityScore.None);

    /// <summary>All pairs through <see cref="Cka.AllPairs(IReadOnlyList{string}, IReadOnlyList{Matrix})"/> (each layer's products formed once; no per-pair progress).</summary>
    public override SimilarityTable AllPairs(IReadOnlyList<(string Name, Matrix Acts)> layers, Action<long, long>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(layers);
        cancel.ThrowIfCancellationRequested();
        var t = Settings.AllPairs(layers.Select(l => l.Name).ToArray(), layers.Select(l => l.Acts).ToArray());
        return new SimilarityTable(t.Measure, t.RowLayers, t.ColLayers, t.Values, Range.Min, Range.Max);
    }

    /// <summary>Rows x columns through <see cref="Cka.Cross"/>.</summary>
    public override SimilarityTable Cross(IReadOnlyList<(string Name, Matrix Acts)> rowLayers, IReadOnlyList<(string Name, Matrix Acts)> colLayers,
                                          Action<long, long>? progress = null, CancellationToken cancel = default)
    {
        cancel.ThrowIfCancellationRequested();
        ArgumentNullException.ThrowIfNull(rowLayers);
        ArgumentNullException.ThrowIfNull(colLayers);
        var t = Settings.Cross(rowLayers.Select(l => l.Name).ToArray(), rowLayers.Select(l => l.Acts).ToArray(),
                               colLayers.Select(l => l.Name).ToArray(), colLayers.Select(l => l.Acts).ToArray());
        return new SimilarityTable(t.Measure, t.RowLayers, t.ColLayers, t.Values, Range.Min, Range.Max);
    }
}

using System.Numerics;

namespace Probe.Projection;

/// <summary>
/// Trustworthiness of an embedding (Venna &amp; Kaski 2001), computed as scikit-learn's
/// <c>sklearn.manifold.trustworthiness</c> with the Euclidean metric:
/// T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in N_k^low(i)} max(0, r(i, j) - k),
/// where r(i, j) is the 1-based rank of j among i's neighbours in the original space. Ties in distance are broken
/// by the smaller index (scikit-learn's argsort leaves tie order unspecified).
/// </summary>
public static class Trustworthiness
{
    /// <summary>Trustworthiness of <paramref name="low"/> as an embedding of <paramref name="high"/> (rows paired), in [0, 1].</summary>
    public static double Compute(Matrix high, Matrix low, int k = 10)
    {
        ArgumentNullException.ThrowIfNull(high);
        ArgumentNullException.ThrowIfNull(low);
        high.EnsureNotEmpty("The original data").EnsureFinite("The original data");
        low.EnsureNotEmpty("The embedding").EnsureFinite("The embedding");
        int n = high.Rows;
        if (low.Rows != n) throw new ProbeException($"Trustworthiness pairs rows: the original data has {n} rows and the embedding {low.Rows}.");
        if (k < 1 || k >= n / 2.0)
            throw new ProbeException($"Trustworthiness needs 1 <= k < n / 2 (n = {n}); got k = {k}.");
        var lowNeighbours = NearestNeighbours.ExactKnn(low, k);
        long penalty = 0;
        var partial = new long[n];
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, () => new double[n], (i, _, dist) =>
        {
            var xi = high.Row(i);
            for (int j = 0; j < n; j++) dist[j] = j == i ? double.PositiveInfinity : NearestNeighbours.SquaredDistance(xi, high.Row(j));
            long p = 0;
            for (int t = 0; t < k; t++)
            {
                int j = lowNeighbours[i * k + t];
                double dj = dist[j];
                // rank of j = 1 + number of points strictly closer, or equally close with a smaller index
                int rank = 1;
                for (int m = 0; m < n; m++)
                {
                    double dm = dist[m];
                    if (dm < dj || (dm == dj && m < j)) rank++;
                }
                if (rank > k) p += rank - k;
            }
            partial[i] = p;
            return dist;
        }, _ => { });
        foreach (var p in partial) penalty += p;
        return 1.0 - penalty * (2.0 / (n * (double)k * (2.0 * n - 3.0 * k - 1.0)));
    }
}

/// <summary>
/// A trustworthiness score and what it was computed on: <see cref="Rows"/> rows chosen uniformly (seeded) out of
/// <see cref="TotalRows"/>, neighbours searched among the chosen rows only (as scikit-learn's
/// <c>trustworthiness(X[idx], Y[idx])</c>).
/// </summary>
public sealed record TrustworthinessScore(double Value, int K, int Rows, int TotalRows, int Seed)
{
    /// <summary>True when every row was scored.</summary>
    public bool AllRows => Rows == TotalRows;

    /// <summary>For output: "k=10, 5000 of 70000 rows (uniform, seed 0)" or "k=10, all 3000 rows".</summary>
    public string Describe() => Describe(K, Rows, TotalRows, Seed);

    /// <summary>What a score of <paramref name="k"/> neighbours on <paramref name="rows"/> of <paramref name="total"/> rows was computed on (see <see cref="Describe()"/>).</summary>
    public static string Describe(int k, int rows, int total, int seed) =>
        rows == total ? $"k={k}, all {rows} rows" : $"k={k}, {rows} of {total} rows (uniform, seed {seed})";
}

/// <summary>Trustworthiness on a fixed subsample, so that scoring stays O(s^2) whatever the number of rows.</summary>
public static class SampledTrustworthiness
{
    /// <summary>The default number of rows scored.</summary>
    public const int DefaultSamples = 5000;

    /// <summary>
    /// <see cref="Trustworthiness.Compute"/> on <paramref name="samples"/> rows chosen uniformly with
    /// <paramref name="seed"/> (all rows when there are no more than that), the same rows of both matrices.
    /// </summary>
    public static TrustworthinessScore Compute(Matrix high, Matrix low, int k = 10, int samples = DefaultSamples, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(high);
        ArgumentNullException.ThrowIfNull(low);
        if (samples < 1) throw new ProbeException($"The number of rows to score must be positive, got {samples}.");
        int n = high.Rows;
        if (low.Rows != n) throw new ProbeException($"Trustworthiness pairs rows: the original data has {n} rows and the embedding {low.Rows}.");
        if (samples >= n) return new TrustworthinessScore(Trustworthiness.Compute(high, low, k), k, n, n, seed);
        var rows = Probe.Data.DatasetSampling.UniformIndices(n, samples, seed);
        Array.Sort(rows);
        double v = Trustworthiness.Compute(high.SelectRows(rows), low.SelectRows(rows), k);
        return new TrustworthinessScore(v, k, rows.Length, n, seed);
    }
}

/// <summary>Exact nearest neighbours and distances shared by the projections.</summary>
internal static class NearestNeighbours
{
    /// <summary>Squared Euclidean distance of two float rows, accumulated in double.</summary>
    public static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        int j = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<float>.Count * 2)
        {
            var acc = Vector<double>.Zero;
            int w = Vector<float>.Count;
            for (; j <= a.Length - w; j += w)
            {
                var d = new Vector<float>(a.Slice(j)) - new Vector<float>(b.Slice(j));
                Vector.Widen(d, out var lo, out var hi);
                acc += lo * lo + hi * hi;
            }
            s = Vector.Sum(acc);
        }
        for (; j < a.Length; j++) { double d = a[j] - b[j]; s += d * d; }
        return s;
    }

    /// <summary>The k nearest other rows of every row (brute force, exact), nearest first, ties by smaller index; n x k row-major.</summary>
    public static int[] ExactKnn(Matrix x, int k)
    {
        int n = x.Rows;
        var result = new int[n * k];
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, () => (new double[n], new int[n]), (i, _, buf) =>
        {
            var (dist, idx) = buf;
            var xi = x.Row(i);
            int c = 0;
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                dist[c] = SquaredDistance(xi, x.Row(j)); idx[c] = j; c++;
            }
            SelectSmallest(dist, idx, c, k);
            Array.Copy(idx, 0, result, (long)i * k, k);
            return buf;
        }, _ => { });
        return result;
    }

    /// <summary>Moves the k smallest (distance, index) pairs of the first <paramref name="count"/> to the front, sorted.</summary>
    public static void SelectSmallest(double[] dist, int[] idx, int count, int k)
    {
        // simple bounded insertion into a sorted prefix; k is small relative to n
        int filled = 0;
        for (int j = 0; j < count; j++)
        {
            double d = dist[j]; int id = idx[j];
            if (filled == k && !Less(d, id, dist[k - 1], idx[k - 1])) continue;
            int pos = filled < k ? filled++ : k - 1;
            while (pos > 0 && Less(d, id, dist[pos - 1], idx[pos - 1])) { dist[pos] = dist[pos - 1]; idx[pos] = idx[pos - 1]; pos--; }
            dist[pos] = d; idx[pos] = id;
        }
    }

    static bool Less(double d1, int i1, double d2, int i2) => d1 < d2 || (d1 == d2 && i1 < i2);
}

using FsCheck.Xunit;
using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>
/// Invariances of the similarity measures (Kornblith et al. 2019 section 3; Klabunde et al. 2023 table 1) over
/// FsCheck-chosen seeds and shapes. Transformed inputs are float32 roundings, so "invariant" means to 1e-4 relative.
/// </summary>
public class SimilarityPropertyTests
{
    private const double Tol = 1e-4;
    private static readonly string[] All = SimilarityMeasure.Names.ToArray();

    /// <summary>Related representations of the same samples: Y = tanh(X W / 3) + noise; shapes from the seed.</summary>
    private static (Matrix X, Matrix Y) Pair(int seed)
    {
        var rng = new Random(seed);
        int n = rng.Next(30, 70), p = rng.Next(3, 12), q = rng.Next(3, 12);
        if (q == p) q++;
        var x = Gaussian(n, p, seed, scale: 1.5, shift: 0.3);
        var w = Gaussian(p, q, seed + 1);
        var noise = Gaussian(n, q, seed + 2, scale: 0.5);
        var y = Matrix.Create(n, q, (i, j) =>
        {
            double s = 0;
            for (int k = 0; k < p; k++) s += x[i, k] * w[k, j];
            return (float)(Math.Tanh(s / 3) + noise[i, j]);
        });
        return (x, y);
    }

    private static double V(string measure, Matrix x, Matrix y) => SimilarityMeasure.Parse(measure).Compute(x, y).Value;

    private static double[,] Invertible(int d, int seed)
    {
        var g = Gaussian(d, d, seed);
        var a = new double[d, d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) a[i, j] = (i == j ? 1 : 0) + 0.4 * g[i, j];
        return a;
    }

    private static double[,] DiagonalScaling(int d, double from, double to)
    {
        var a = new double[d, d];
        for (int i = 0; i < d; i++) a[i, i] = from * Math.Pow(to / from, i / (double)Math.Max(1, d - 1));
        return a;
    }

    [Property(MaxTest = 20)]
    public void IdentityGivesOneAndValuesStayInRange(int seed)
    {
        var (x, y) = Pair(seed);
        foreach (var m in All)
        {
            AssertRelative(1.0, V(m, x, x), 1e-9, m + " self");
            double v = V(m, x, y);
            var range = SimilarityMeasure.Parse(m).Range;
            Assert.InRange(v, range.Min, range.Max);
        }
    }

    [Property(MaxTest = 20)]
    public void SymmetricMeasuresAreSymmetric(int seed)
    {
        var (x, y) = Pair(seed);
        // PWCCA takes its weights from the narrower side whichever comes first, so it is symmetric when p != q.
        foreach (var m in new[] { "cka", "mean-cca", "svcca", "pwcca", "procrustes", "mutual-knn", "rsa" })
            AssertRelative(V(m, x, y), V(m, y, x), 1e-9, m + " symmetry");
        Assert.NotEqual(V("linreg", x, y), V("linreg", y, x));
    }

    [Property(MaxTest = 20)]
    public void CcaAndRegressionAreInvariantToInvertibleMapsOfX(int seed)
    {
        var (x, y) = Pair(seed);
        var xa = Multiply(x, Invertible(x.Cols, seed + 5));
        var ya = Multiply(y, Invertible(y.Cols, seed + 6));
        AssertRelative(V("mean-cca", x, y), V("mean-cca", xa, ya), Tol, "mean-cca");
        AssertRelative(V("linreg", x, y), V("linreg", xa, y), Tol, "linreg (invertible map of the predictor)");
        // The canonical correlations themselves, each one.
        var r0 = SimilarityMath.CanonicalCorrelations(x, y);
        var r1 = SimilarityMath.CanonicalCorrelations(xa, ya);
        for (int i = 0; i < r0.Length; i++) Assert.True(Math.Abs(r0[i] - r1[i]) < Tol, $"rho[{i}] {r0[i]} vs {r1[i]}");
    }

    [Property(MaxTest = 20)]
    public void OrthogonalMapsAndIsotropicScalingLeaveTheRotationInvariantMeasuresUnchanged(int seed)
    {
        var (x, y) = Pair(seed);
        var xq = Map(Multiply(x, RandomOrthogonal(x.Cols, seed + 7)), v => 3.5f * v + 2f);
        var yq = Map(Multiply(y, RandomOrthogonal(y.Cols, seed + 8)), v => 0.01f * v);
        foreach (var m in new[] { "cka", "mean-cca", "svcca", "procrustes", "linreg" })
            AssertRelative(V(m, x, y), V(m, xq, yq), Tol, m + " orthogonal + isotropic");
    }

    [Property(MaxTest = 20)]
    public void ProcrustesAndCkaChangeUnderNonOrthogonalMaps(int seed)
    {
        var (x, y) = Pair(seed);
        var xs = Multiply(x, DiagonalScaling(x.Cols, 0.1, 10));
        foreach (var m in new[] { "cka", "procrustes" })
            Assert.True(Math.Abs(V(m, x, y) - V(m, xs, y)) > 1e-3, $"{m} unchanged by a non-uniform column scaling");
        // ... while mean CCA is invariant to it (it is invertible).
        AssertRelative(V("mean-cca", x, y), V("mean-cca", xs, y), Tol, "mean-cca under column scaling");
    }

    [Property(MaxTest = 20)]
    public void PwccaIsInvariantToColumnPermutationShiftAndIsotropicScaling(int seed)
    {
        var (x, y) = Pair(seed);
        var perm = Enumerable.Range(0, x.Cols).Reverse().ToArray();
        var xp = Map(x.SelectColumns(perm), v => -2f * v + 5f);
        AssertRelative(V("pwcca", x, y), V("pwcca", xp, y), Tol, "pwcca");
    }

    [Property(MaxTest = 20)]
    public void MutualKnnIsInvariantToRotationsButNotToColumnScaling(int seed)
    {
        var (x, y) = Pair(seed);
        int n = x.Rows, k = MutualKnnMeasure.DefaultK;
        var xq = Map(Multiply(x, RandomOrthogonal(x.Cols, seed + 9)), v => 4f * v);
        // One neighbour may swap at a near-tie after float32 rounding: allow a change of at most 2 / (n k).
        double slack = 2.0 / (n * k) + 1e-12;
        Assert.True(SimilarityMath.MutualKnn(x, xq) >= 1 - slack, "rotated neighbours differ");
        Assert.True(Math.Abs(V("mutual-knn", x, y) - V("mutual-knn", xq, y)) <= slack, "mutual-knn under rotation");
        // A strongly non-uniform column scaling changes the neighbourhoods themselves.
        var xs = Multiply(x, DiagonalScaling(x.Cols, 0.05, 20));
        double kept = SimilarityMath.MutualKnn(x, xs);
        Assert.True(kept < 0.9, $"column scaling kept {kept} of the neighbours");
    }

    [Property(MaxTest = 20)]
    public void RsaIsInvariantToRowwiseAffineMapsAndColumnPermutations(int seed)
    {
        var (x, y) = Pair(seed);
        var perm = Enumerable.Range(0, x.Cols).Select(j => (j * 7 + 3) % x.Cols).Distinct().ToArray();
        if (perm.Length != x.Cols) perm = Enumerable.Range(0, x.Cols).Reverse().ToArray();
        var xr = Matrix.Create(x.Rows, x.Cols, (i, j) => (1 + i % 5) * x[i, perm[j]] + (i % 3) - 1);
        AssertRelative(V("rsa", x, y), V("rsa", xr, y), Tol, "rsa");
    }

    [Fact]
    public void DegenerateInputsGiveFiniteValuesOrClearErrors()
    {
        // n < p, a constant column, duplicated columns, duplicated rows, a zero row: every measure returns a finite
        // value within its range (the degenerate directions are dropped by the rank tolerance).
        var x = Gaussian(15, 40, 1);
        var y = Gaussian(15, 25, 2);
        for (int i = 0; i < 15; i++) { x[i, 3] = 1.5f; x[i, 9] = x[i, 2]; y[i, 7] = y[i, 1]; }
        for (int j = 0; j < 40; j++) x[14, j] = x[13, j];
        foreach (var m in All)
        {
            var measure = SimilarityMeasure.Parse(m, k: 5);
            double v = measure.Compute(x, y).Value;
            Assert.True(double.IsFinite(v), m);
            Assert.InRange(v, measure.Range.Min, measure.Range.Max);
        }
        var zeroRow = Matrix.Create(15, 25, (i, j) => i == 4 ? 0 : y[i, j]);
        Assert.InRange(SimilarityMath.MutualKnn(x, zeroRow, 5), 0, 1);

        // A constant matrix: every measure that centres columns refuses it and says why.
        var constant = Matrix.Create(15, 6, (i, j) => 2f);
        foreach (var m in new[] { "cka", "mean-cca", "svcca", "pwcca", "procrustes", "linreg" })
        {
            var ex = Assert.Throws<Probe.Similarity.ConstantLayerException>(() => V(m, constant, y));
            Assert.Contains("constant", ex.Message);
        }
        // RSA needs every row to vary.
        var ex2 = Assert.Throws<ProbeException>(() => SimilarityMath.Rsa(zeroRow, x));
        Assert.Contains("Row 4", ex2.Message);
        // Mismatched samples, too few rows for k, unknown measure names.
        Assert.Contains("same samples", Assert.Throws<ProbeException>(() => SimilarityMath.MeanCca(x, Gaussian(14, 3, 3))).Message);
        Assert.Contains("at least 11", Assert.Throws<ProbeException>(() => SimilarityMath.MutualKnn(Gaussian(8, 3, 1), Gaussian(8, 3, 2))).Message);
        var unknown = Assert.Throws<ProbeException>(() => SimilarityMeasure.Parse("cca"));
        Assert.Contains("mean-cca", unknown.Message);
        var nan = Matrix.Create(15, 3, (i, j) => i == 2 ? float.NaN : 1f);
        Assert.Contains("non-finite", Assert.Throws<ProbeException>(() => SimilarityMath.Svcca(nan, y)).Message);
    }
}

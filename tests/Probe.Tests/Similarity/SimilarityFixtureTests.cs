using System.Text.Json;
using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>
/// Every measure of issue 15 against the NumPy implementation of its definition in
/// tests/fixtures/similarity/make_similarity.py (float64 from the same float32 files; cross-checked there against
/// SciPy and scikit-learn), on 8 matrix pairs: related, n &lt; p, rank-deficient, identical, rotated, scaled, independent,
/// clustered with duplicated rows. Keys are those of fixtures/similarity/expected.json.
/// </summary>
public class SimilarityFixtureTests
{
    private const double Tol = 1e-6;

    public static TheoryData<string> Cases => new() { "related", "wide", "rankdef", "identical", "rotated", "scaled", "independent", "clusters" };

    private static readonly Lazy<JsonElement> Expected = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "similarity", "expected.json"))).RootElement);

    private static (Matrix A, Matrix B, JsonElement Values) Case(string name)
    {
        var c = Expected.Value.GetProperty("cases").GetProperty(name);
        string dir = Path.Combine(AppContext.BaseDirectory, "fixtures", "similarity");
        return (Probe.Data.Npy.ReadMatrix(Path.Combine(dir, c.GetProperty("a").GetString()!)),
                Probe.Data.Npy.ReadMatrix(Path.Combine(dir, c.GetProperty("b").GetString()!)),
                c.GetProperty("values"));
    }

    private static double V(JsonElement values, string key) => values.GetProperty(key).GetDouble();

    [Theory, MemberData(nameof(Cases))]
    public void BlockedMutualKnnMatchesNumPyForEveryBlockSize(string name)
    {
        // Neighbours are found a block of rows at a time (never an n x n matrix); the fixtures are small enough that the
        // default block holds every row, so smaller blocks (one row, a prime, most rows) are forced here.
        var (a, b, v) = Case(name);
        var m = new MutualKnnMeasure(10);
        foreach (int block in new[] { 1, 7, a.Rows - 1, a.Rows })
        {
            var na = new MutualKnnMeasure.Neighbours(a.Rows, MutualKnnMeasure.NearestNeighbours(a, 10, block));
            var nb = new MutualKnnMeasure.Neighbours(b.Rows, MutualKnnMeasure.NearestNeighbours(b, 10, block));
            AssertRelative(V(v, "mutual-knn"), m.Compare(na, nb, "a", "b").Value, Tol, $"{name} mutual-knn, blocks of {block} rows");
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void CcaFamilyMatchesNumPy(string name)
    {
        var (a, b, v) = Case(name);
        var rho = v.GetProperty("canonical_correlations").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var got = SimilarityMath.CanonicalCorrelations(a, b);
        Assert.Equal(rho.Length, got.Length);
        for (int i = 0; i < rho.Length; i++) Assert.True(Math.Abs(rho[i] - got[i]) <= Tol, $"{name} rho[{i}]: {rho[i]} vs {got[i]}");
        AssertRelative(V(v, "mean-cca"), SimilarityMath.MeanCca(a, b), Tol, name + " mean-cca");
        AssertRelative(V(v, "svcca"), SimilarityMath.Svcca(a, b), Tol, name + " svcca");
        AssertRelative(V(v, "svcca_keep_0.9"), SimilarityMath.Svcca(a, b, 0.9), Tol, name + " svcca keep 0.9");
        AssertRelative(V(v, "pwcca"), SimilarityMath.Pwcca(a, b), Tol, name + " pwcca");
        AssertRelative(V(v, "pwcca_swapped"), SimilarityMath.Pwcca(b, a), Tol, name + " pwcca swapped");
        AssertRelative(V(v, "linreg"), SimilarityMath.LinearRegression(a, b), Tol, name + " linreg");
        AssertRelative(V(v, "linreg_swapped"), SimilarityMath.LinearRegression(b, a), Tol, name + " linreg swapped");
    }

    [Theory, MemberData(nameof(Cases))]
    public void ProcrustesMatchesNumPy(string name)
    {
        var (a, b, v) = Case(name);
        var p = v.GetProperty("procrustes");
        // Both paths: the host's OpenBLAS (DGEMM + LAPACK dgesdd) when it is loaded, and libtorch's.
        foreach (bool torchOnly in OpenBlas.DoubleAvailable ? new[] { false, true } : [true])
        {
            OpenBlas.TorchOnly.Value = torchOnly;
            try
            {
                string what = $"{name} ({(torchOnly ? "libtorch" : "OpenBLAS")})";
                var (s, d, ang) = SimilarityMath.Procrustes(a, b);
                AssertRelative(V(p, "similarity"), s, Tol, what + " similarity");
                // Distance and angle vanish for identical inputs: compare those absolutely (their scale is sqrt of rounding).
                Assert.True(Math.Abs(V(p, "distance") - d) <= Math.Max(Tol * V(p, "distance"), 1e-6), $"{what} distance {V(p, "distance")} vs {d}");
                Assert.True(Math.Abs(V(p, "angular") - ang) <= Math.Max(Tol * V(p, "angular"), 1e-6), $"{what} angular {V(p, "angular")} vs {ang}");
            }
            finally { OpenBlas.TorchOnly.Value = false; }
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void MutualKnnRsaAndCkaMatchNumPy(string name)
    {
        var (a, b, v) = Case(name);
        AssertRelative(V(v, "mutual-knn"), SimilarityMath.MutualKnn(a, b), Tol, name + " mutual-knn");
        AssertRelative(V(v, "mutual-knn_k_5"), SimilarityMath.MutualKnn(a, b, 5), Tol, name + " mutual-knn k=5");
        AssertRelative(V(v, "rsa"), SimilarityMath.Rsa(a, b), Tol, name + " rsa");
        AssertRelative(V(v, "cka"), SimilarityMath.LinearCka(a, b), Tol, name + " cka");
    }

    [Theory, MemberData(nameof(Cases))]
    public void ParsedMeasuresGiveTheSameValues(string name)
    {
        var (a, b, v) = Case(name);
        foreach (var m in SimilarityMeasure.Names)
        {
            var score = SimilarityMeasure.Parse(m).Compute(a, b);
            double expected = m == "procrustes" ? V(v.GetProperty("procrustes"), "similarity") : V(v, m);
            AssertRelative(expected, score.Value, Tol, $"{name} {m}");
            Assert.Equal(m, score.Measure);
        }
    }

    [Fact]
    public void AllPairsMatchesPairwiseReference()
    {
        // Three layers of the 'clusters' and 'related' cases are not the same samples; use one case's pair plus a
        // ReLU of the first (value checked pairwise against Compute, which the fixture checks against NumPy).
        var (a, b, v) = Case("clusters");
        var relu = Map(a, x => MathF.Max(0, x));
        var layers = new List<(string, Matrix)> { ("a", a), ("b", b), ("relu", relu) };
        foreach (var name in SimilarityMeasure.Names)
        {
            var m = SimilarityMeasure.Parse(name);
            var t = m.AllPairs(layers);
            Assert.Equal(["a", "b", "relu"], t.RowLayers);
            double ab = name == "procrustes" ? V(v.GetProperty("procrustes"), "similarity") : V(v, name);
            AssertRelative(ab, t["a", "b"], Tol, name + " table[a, b]");
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    AssertRelative(m.Compute(layers[i].Item2, layers[j].Item2).Value, t.Values[i][j], 1e-9, $"{name} [{i},{j}]");
            var cross = m.Cross(layers.Take(2).ToList(), layers.Skip(1).ToList());
            AssertRelative(t.Values[0][2], cross.Values[0][1], 1e-9, name + " cross");
        }
    }
}

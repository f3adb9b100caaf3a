using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

/// <summary>The fast t-SNE building blocks against slow references computed here (brute force, definitions).</summary>
public class TsneInternalsTests
{
    static readonly Matrix Digits = ProjectionTestData.Digits(400);

    [Fact]
    public void SimdKnnMatchesBruteForceInDouble()
    {
        const int k = 31;
        var (idx, d2) = TsneKnn.Search(Digits, k);
        var reference = NearestNeighbours.ExactKnn(Digits, k); // double distances, ties by index
        Assert.Equal(reference, idx);
        for (int i = 0; i < Digits.Rows; i += 37)
            for (int t = 0; t < k; t++)
                Assert.Equal(NearestNeighbours.SquaredDistance(Digits.Row(i), Digits.Row(idx[i * k + t])), d2[i * k + t]);
    }

    [Fact]
    public void KnnHandlesDuplicatesAndRaggedSizes()
    {
        // 21 rows (not a multiple of the 4-row block or 16-column step), rows 0..9 duplicated as 10..19
        var x = Matrix.Create(21, 3, (i, j) => (float)((i % 10) * 1.5 + j * 0.25 * (i % 10 == 3 ? -1 : 1)));
        var (idx, d2) = TsneKnn.Search(x, 5);
        var reference = NearestNeighbours.ExactKnn(x, 5);
        Assert.Equal(reference, idx);
        for (int i = 0; i < 10; i++) { Assert.Equal(i + 10, idx[i * 5]); Assert.Equal(0.0, d2[i * 5]); }
    }

    [Fact]
    public void HeapSelectionKeepsTheSmallestWithTiesToSmallerIndex()
    {
        var rng = new Random(3);
        var v = Enumerable.Range(0, 1000).Select(_ => (float)rng.Next(0, 50)).ToArray(); // many ties
        v[17] = float.PositiveInfinity;
        var hd = new float[40]; var hi = new int[40];
        int m = TsneKnn.SmallestByHeap(v, 40, hd, hi);
        Assert.Equal(40, m);
        var expected = Enumerable.Range(0, 1000).OrderBy(j => v[j]).ThenBy(j => j).Take(40).OrderBy(j => j);
        Assert.Equal(expected, hi.OrderBy(j => j));
        Assert.Equal(2, TsneKnn.SmallestByHeap(new[] { 1f, float.PositiveInfinity, 0f }, 5, hd, hi)); // fewer finite than asked
    }

    [Fact]
    public void CalibrationReachesTheTargetEntropy()
    {
        // definition: the conditional p has entropy log(perplexity) (natural log), to scikit-learn's tolerance 1e-5
        var rng = new Random(5);
        foreach (double perplexity in new[] { 2.0, 10, 30 })
        {
            int k = (int)(3 * perplexity) + 1;
            var d2 = Enumerable.Range(0, k).Select(_ => 50 + rng.NextDouble() * 400).OrderBy(v => v).ToArray();
            var p = new double[k];
            TsneAffinities.Calibrate(d2, p, Math.Log(perplexity));
            Assert.Equal(1.0, p.Sum(), 12);
            double h = -p.Where(v => v > 0).Sum(v => v * Math.Log(v));
            Assert.InRange(h, Math.Log(perplexity) - 1.1e-5, Math.Log(perplexity) + 1.1e-5);
            for (int j = 1; j < k; j++) Assert.True(p[j] <= p[j - 1]); // farther, less likely
        }
    }

    [Fact]
    public void ReductionSpansTheSameSubspaceAsExactPca()
    {
        // 600 x 300 (wide enough for the fast path): the projection onto the top 10 axes must match exact PCA's up to
        // sign (both use the largest-|loading|-positive convention), to float32 covariance rounding
        var rng = new Random(11);
        var scales = Enumerable.Range(0, 300).Select(j => Math.Pow(0.93, j)).ToArray();
        var x = Matrix.Create(600, 300, (i, j) => (float)(rng.NextDouble() * scales[j] * 10 + Math.Sin(i + j)));
        var fast = TsneReduction.Reduce(x, 10, seed: 1);
        var exact = new Pca(10, PcaSolver.Exact).FitTransform(x);
        double maxAbs = exact.Data.Max(Math.Abs);
        for (int c = 0; c < 8; c++) // the last components have the smallest gaps; check the leading ones tightly
            for (int i = 0; i < 600; i++)
                Assert.True(Math.Abs(fast[i, c] - exact[i, c]) < 2e-3 * maxAbs, $"component {c} row {i}: {fast[i, c]} vs {exact[i, c]}");
        Assert.Equal(fast.Data, TsneReduction.Reduce(x, 10, seed: 1).Data); // deterministic
    }
}

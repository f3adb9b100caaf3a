using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

public class PcaTests
{
    [Fact]
    public void ExactMatchesScikitLearnExplainedVarianceRatioOnRelu1()
    {
        // expected.json digits_mlp.pca_relu1_explained_variance_ratio_top10 (scikit-learn 1.2.1 PCA on digits_relu1.npy)
        var x = ProjectionTestData.ReadNpyFloat32("digits_relu1.npy");
        var expected = ProjectionTestData.Expected("digits_mlp", "pca_relu1_explained_variance_ratio_top10").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var r = new Pca(10, PcaSolver.Exact).Fit(x);
        Assert.Equal(PcaSolver.Exact, r.Solver);
        for (int c = 0; c < 10; c++) Assert.InRange(r.ExplainedVarianceRatio[c], expected[c] - 1e-5, expected[c] + 1e-5);
    }

    [Fact]
    public void RandomizedAgreesWithExactOnTopComponents()
    {
        var x = ProjectionTestData.ReadNpyFloat32("digits_relu1.npy");
        var exact = new Pca(5, PcaSolver.Exact).Fit(x);
        var rand = new Pca(5, PcaSolver.Randomized, Seed: 3).Fit(x);
        Assert.Equal(PcaSolver.Randomized, rand.Solver);
        for (int c = 0; c < 5; c++)
        {
            Assert.InRange(rand.ExplainedVarianceRatio[c], exact.ExplainedVarianceRatio[c] - 1e-6, exact.ExplainedVarianceRatio[c] + 1e-6);
            double dot = exact.Components[c].Zip(rand.Components[c], (a, b) => a * b).Sum();
            Assert.True(dot > 0.9999, $"component {c}: cosine {dot}"); // same sign convention -> positive
        }
        Assert.Equal(exact.TotalVariance, rand.TotalVariance, 6);
    }

    [Fact]
    public void ComponentsAreOrthonormalSignFlippedAndTransformCentres()
    {
        var x = ProjectionTestData.Digits(300);
        var r = new Pca(3).Fit(x);
        for (int a = 0; a < 3; a++)
        {
            var c = r.Components[a];
            int arg = Enumerable.Range(0, c.Length).MaxBy(j => Math.Abs(c[j]));
            Assert.True(c[arg] > 0); // scikit-learn svd_flip convention on the components
            for (int b = 0; b < 3; b++)
                Assert.Equal(a == b ? 1.0 : 0.0, c.Zip(r.Components[b], (u, v) => u * v).Sum(), 9);
        }
        var y = r.Transform(x);
        Assert.Equal((300, 3), (y.Rows, y.Cols));
        for (int c = 0; c < 3; c++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < 300; i++) mean += y[i, c];
            mean /= 300;
            for (int i = 0; i < 300; i++) var += (y[i, c] - mean) * (y[i, c] - mean);
            Assert.True(Math.Abs(mean) < 1e-4);
            Assert.Equal(r.ExplainedVariance[c], var / 299, 3); // variance of the scores = explained variance
        }
        Assert.True(r.ExplainedVariance[0] >= r.ExplainedVariance[1] && r.ExplainedVariance[1] >= r.ExplainedVariance[2]);
    }

    [Fact]
    public void WideMatrixUsesGramAndMatchesKnownLine()
    {
        // 4 samples on the line t * (1, 2, 2, 0, ..., 0) / 3 in 40 dims: one component carries all variance.
        var x = Matrix.Create(4, 40, (i, j) => j switch { 0 => i / 3f, 1 => 2 * i / 3f, 2 => 2 * i / 3f, _ => 0f });
        var r = new Pca(1, PcaSolver.Exact).Fit(x);
        Assert.Equal(1.0, r.ExplainedVarianceRatio[0], 9);
        Assert.Equal(1 / 3.0, r.Components[0][0], 6);
        Assert.Equal(2 / 3.0, r.Components[0][1], 6);
        Assert.Equal(5 / 3.0, r.ExplainedVariance[0], 6); // var of 0..3 with ddof 1
    }

    [Fact]
    public void RejectsBadInput()
    {
        var x = ProjectionTestData.Digits(20);
        Assert.Throws<ProbeException>(() => new Pca(0).Fit(x));
        Assert.Throws<ProbeException>(() => new Pca(21).Fit(x));
        var bad = ProjectionTestData.Digits(20);
        bad[3, 4] = float.NaN;
        Assert.Throws<ProbeException>(() => new Pca(2).Fit(bad));
        var r = new Pca(2).Fit(x);
        Assert.Throws<ProbeException>(() => r.Transform(new Matrix(3, 5)));
    }
}

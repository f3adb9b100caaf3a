using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

public class TsneTests
{
    static readonly Matrix Small = ProjectionTestData.Digits(250);

    [Fact]
    public void ExactEmbeddingOfDigitsSubsetIsTrustworthyAndKlDecreases()
    {
        var r = new Tsne().Run(Small);
        Assert.Equal(TsneMethod.Exact, r.Method);
        Assert.Equal((250, 2), (r.Embedding.Rows, r.Embedding.Cols));
        Assert.True(Trustworthiness.Compute(Small, r.Embedding, 10) > 0.9);
        // KL after exaggeration ends decreases (non-strictly per 50 iterations, clearly overall)
        int afterEx = Array.FindIndex(r.KlHistoryIterations, it => it >= 300);
        Assert.True(r.KlHistory[^1] < r.KlHistory[afterEx]);
        Assert.True(r.KlHistory[^1] < r.KlHistory[0]);
        // the exact method reports the exact KL
        Assert.Equal(TsneKl.Exact(new Tsne().Affinities(Small), r.Embedding), r.KlDivergence, 4);
    }

    [Fact]
    public void BarnesHutIsDeterministicAndCloseToExact()
    {
        var bh = new Tsne(Method: TsneMethod.BarnesHut, Seed: 7);
        var a = bh.Run(Small);
        var b = bh.Run(Small);
        Assert.Equal(a.Embedding.Data, b.Embedding.Data); // bit-for-bit
        Assert.Equal(a.KlDivergence, b.KlDivergence);
        Assert.True(Trustworthiness.Compute(Small, a.Embedding, 10) > 0.9);
        double exactKl = TsneKl.Exact(bh.Affinities(Small), a.Embedding);
        Assert.InRange(a.KlDivergence, exactKl - 0.05, exactKl + 0.05);
    }

    [Fact]
    public void AffinitiesAreSymmetricAndNormalised()
    {
        var p = new Tsne(Perplexity: 10).Affinities(Small);
        Assert.Equal(31, p.Neighbours);
        Assert.Equal(1.0, p.Values.Sum(), 10);
        var dict = new Dictionary<(int, int), double>();
        for (int i = 0; i < p.Samples; i++)
            for (int t = p.RowPointers[i]; t < p.RowPointers[i + 1]; t++) dict[(i, p.Columns[t])] = p.Values[t];
        foreach (var ((i, j), v) in dict) Assert.Equal(v, dict[(j, i)], 15);
    }

    [Fact]
    public void SeedAndInitChangeTheResultReproducibly()
    {
        var init = Matrix.Create(250, 2, (i, j) => (float)Math.Sin(i * 0.37 + j) * 1e-4f);
        var a = new Tsne(Iterations: 300, Init: init).Run(Small);
        var b = new Tsne(Iterations: 300, Init: init).Run(Small);
        var c = new Tsne(Iterations: 300).Run(Small);
        Assert.Equal(a.Embedding.Data, b.Embedding.Data);
        Assert.NotEqual(a.Embedding.Data, c.Embedding.Data);
    }

    [Fact]
    public void RescaledInitDoesNotDependOnTheInitScale()
    {
        Matrix Init(float scale) => Matrix.Create(250, 2, (i, j) => (float)Math.Sin(i * 0.37 + j) * scale);
        var a = new Tsne(Iterations: 5, Init: Init(50), RescaleInit: true).Run(Small).Embedding;
        var b = new Tsne(Iterations: 5, Init: Init(3), RescaleInit: true).Run(Small).Embedding;
        var c = new Tsne(Iterations: 5, Init: Init(50)).Run(Small).Embedding;
        double ab = a.Data.Zip(b.Data, (u, v) => Math.Abs(u - v)).Max(), ac = a.Data.Zip(c.Data, (u, v) => Math.Abs(u - v)).Max();
        double spread = a.Data.Max(Math.Abs);
        Assert.True(ab < 1e-4 * spread, $"rescaled inits differ by {ab} (spread {spread})"); // float32 init rounding only
        Assert.True(ac > 1, $"an unscaled init of spread 50 should stay far from the rescaled one ({ac})");
    }

    [Fact]
    public void TinyInputWorksAndResultsSerializeToJson()
    {
        var tiny = new Tsne(Perplexity: 2).Run(ProjectionTestData.Digits(12));
        Assert.Equal((12, 2), (tiny.Embedding.Rows, tiny.Embedding.Cols));
        Assert.Equal(0, tiny.Embedding.CountNonFinite());
        Assert.True(double.IsFinite(tiny.KlDivergence) && tiny.KlDivergence >= 0);
        var json = System.Text.Json.JsonSerializer.Serialize(tiny);
        Assert.Contains("\"KlDivergence\"", json);
        Assert.Contains("\"ExplainedVarianceRatio\"", System.Text.Json.JsonSerializer.Serialize(new Pca(2).Fit(Small)));
    }

    [Fact]
    public void RejectsBadInput()
    {
        Assert.Throws<ProbeException>(() => new Tsne(Perplexity: 30).Run(ProjectionTestData.Digits(60))); // needs 3p + 2 <= n
        Assert.Throws<ProbeException>(() => new Tsne(Perplexity: 1).Run(ProjectionTestData.Digits(3)));
        var bad = ProjectionTestData.Digits(100);
        bad[5, 5] = float.NaN;
        Assert.Throws<ProbeException>(() => new Tsne(Perplexity: 5).Run(bad));
        Assert.Throws<ProbeException>(() => new Tsne(Perplexity: 0).Run(Small));
        Assert.Throws<ProbeException>(() => new Tsne(Init: new Matrix(10, 2)).Run(Small));
        Assert.Throws<ProbeException>(() => new Tsne(Iterations: 0).Run(Small));
    }
}

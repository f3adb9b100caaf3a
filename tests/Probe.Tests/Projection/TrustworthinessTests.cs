using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

public class TrustworthinessTests
{
    [Fact]
    public void HandComputedSmallCase()
    {
        // 1-D points 0, 1, 3, 6, 10; the embedding swaps points 1 and 4. With k = 1, each point's low-dim nearest
        // neighbour and its rank r in the original space: 0->4 (r 4), 1->3 (r 3), 2->4 (r 4), 3->2 (r 1), 4->0 (r 4).
        // Penalty sum max(0, r - 1) = 3 + 2 + 3 + 0 + 3 = 11; T = 1 - 11 * 2 / (5 * 1 * (10 - 3 - 1)) = 8 / 30.
        var high = Matrix.Create(5, 1, (i, _) => new[] { 0f, 1, 3, 6, 10 }[i]);
        var low = Matrix.Create(5, 1, (i, _) => new[] { 0f, 10, 3, 6, 1 }[i]);
        Assert.Equal(8.0 / 30.0, Trustworthiness.Compute(high, low, 1), 12);
    }

    [Fact]
    public void PerfectForIsometricEmbeddingAndLowerForShuffled()
    {
        var high = ProjectionTestData.Digits(200);
        var pca = new Pca(2).Fit(high).Transform(high);
        // an embedding that preserves all distances: the data itself (k = 10)
        Assert.Equal(1.0, Trustworthiness.Compute(high, high, 10), 12);
        // rotating + scaling the embedding changes nothing
        var rotated = Matrix.Create(200, 2, (i, j) => j == 0 ? 3 * (0.6f * pca[i, 0] - 0.8f * pca[i, 1]) : 3 * (0.8f * pca[i, 0] + 0.6f * pca[i, 1]));
        Assert.Equal(Trustworthiness.Compute(high, pca, 10), Trustworthiness.Compute(high, rotated, 10), 6);
        var rng = new Random(5);
        var shuffled = pca.SelectRows(Enumerable.Range(0, 200).OrderBy(_ => rng.Next()).ToArray());
        Assert.True(Trustworthiness.Compute(high, shuffled, 10) < Trustworthiness.Compute(high, pca, 10) - 0.1);
    }

    [Fact]
    public void RejectsBadK()
    {
        var x = ProjectionTestData.Digits(20);
        Assert.Throws<ProbeException>(() => Trustworthiness.Compute(x, x, 10)); // k must be < n / 2
        Assert.Throws<ProbeException>(() => Trustworthiness.Compute(x, x, 0));
        Assert.Throws<ProbeException>(() => Trustworthiness.Compute(x, ProjectionTestData.Digits(19), 3));
    }
}

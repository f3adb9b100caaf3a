using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

/// <summary>
/// The README's t-SNE quality figures for digits (1,797 x 64, perplexity 30, PCA init: Probe's defaults), to the digits
/// the README prints, and scikit-learn 1.2's Barnes-Hut result on the same data (expected.json tsne_sklearn_digits.input)
/// as the bar they must clear. Times are not tested (they are measured by bench/Probe.Bench, tsne-digits).
/// </summary>
public class TsneReadmeFiguresTests
{
    [Fact]
    public void DigitsEmbeddingReachesTheReadmesKlAndTrustworthiness()
    {
        var x = ProjectionTestData.Digits(1797);
        var r = new Tsne().Run(x);
        double trust = Trustworthiness.Compute(x, r.Embedding, 10);
        var sk = ProjectionTestData.Expected("tsne_sklearn_digits", "input");
        // README: "KL 0.738, trustworthiness 0.9926" (Probe) against "KL 0.755, trustworthiness 0.9925" (scikit-learn)
        Assert.InRange(r.KlDivergence, 0.7375, 0.7385);
        Assert.InRange(trust, 0.99255, 0.99265);
        Assert.True(r.KlDivergence <= sk.GetProperty("kl_divergence").GetDouble(), $"KL {r.KlDivergence} above scikit-learn's");
        Assert.True(trust >= sk.GetProperty("trustworthiness_k10").GetDouble() - 5e-5, $"trustworthiness {trust} below scikit-learn's");
    }
}
